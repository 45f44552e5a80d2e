import { defineConfig } from 'tsup';

export default defineConfig({
  // the pool starts quant-worker.js from beside the bundle (pool.ts)
  entry: ['src/index.ts', 'src/quant-worker.ts'],
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
