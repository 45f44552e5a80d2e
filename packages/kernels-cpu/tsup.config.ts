// src/native.ts is its own entry (@autoround/kernels-cpu/native): quant-types loads the addon's
// quantizers without the kernel backends and their plugin registration.
import { packageConfig } from '../../tsup.base';

export default packageConfig(['src/index.ts', 'src/native.ts']);
