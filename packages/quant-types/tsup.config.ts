import { packageConfig } from '../../tsup.base';

// the pool starts quant-worker.js from beside the bundle (pool.ts)
export default packageConfig(['src/index.ts', 'src/quant-worker.ts']);
