// Starts the quantization worker from the TypeScript sources (tests, benchmarks): registers tsx first.
import { register } from 'tsx/esm/api';

register();
await import('./quant-worker.ts');
