import type { KernelBackend, KernelBackendFactory } from '@autoround/core-tensor';
import { definePlugin } from '@autoround/core';
import { jsGemm } from './js-gemm.js';

export { jsGemm };

/** The portable TypeScript backend: always available, slowest. */
export const jsBackend: KernelBackendFactory = {
  name: 'js',
  priority: 0,
  available: () => true,
  create: (): KernelBackend => ({ name: 'js', threads: 1, gemm: jsGemm }),
};

export const kernelsCpuPlugin = definePlugin({
  name: '@autoround/kernels-cpu',
  kernels: [jsBackend],
});

export default kernelsCpuPlugin;
