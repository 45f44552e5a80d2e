import { AutoRoundError } from '@autoround/core-tensor';

/** Throws AutoRoundError unless m, n, k are non-negative integers and a, b, c hold op(A), op(B), C. */
export function checkGemmArgs(backend: string, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array): void {
  for (const [name, v] of [['m', m], ['n', n], ['k', k]] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new AutoRoundError('E_SHAPE', `gemm (${backend} backend): ${name} = ${v} is not a non-negative integer`, { subject: 'gemm' });
    }
  }
  for (const [name, arr, need, shape] of [
    ['a', a, m * k, `${m}x${k}`],
    ['b', b, k * n, `${k}x${n}`],
    ['c', c, m * n, `${m}x${n}`],
  ] as const) {
    if (!(arr instanceof Float32Array)) {
      throw new AutoRoundError('E_BAD_TYPE', `gemm (${backend} backend): ${name} must be a Float32Array`, { subject: 'gemm' });
    }
    if (arr.length < need) {
      throw new AutoRoundError('E_SHAPE', `gemm (${backend} backend): ${name} has ${arr.length} elements, a ${shape} matrix needs ${need}`, { subject: 'gemm' });
    }
  }
}
