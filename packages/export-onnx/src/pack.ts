import { AutoRoundError, type QuantizedWeight } from '@autoround/core';

/** The block sizes com.microsoft MatMulNBits takes (a power of two, at least 16; onnxruntime's kernels go to 256). */
export const MATMULNBITS_BLOCK_SIZES = [16, 32, 64, 128, 256] as const;
export const MATMULNBITS_BITS = [2, 4, 8] as const;

/** One quantized linear as MatMulNBits stores it (docs/formats/onnx.md#matmulnbits). */
export interface MatMulNBitsTensors {
  readonly K: number;
  readonly N: number;
  readonly bits: number;
  readonly blockSize: number;
  readonly nBlocks: number;
  /** uint8 [N, nBlocks, blockSize·bits/8]: the codes of one block, LSB first, the padding past K zero. */
  readonly B: Uint8Array;
  /** float32 [N, nBlocks], as the algorithm rounded them (possibly negative). */
  readonly scales: Float32Array;
  /** uint8 [N, ceil(nBlocks·bits/8)], LSB first; null when every zero point is 2^(bits−1), the operator's default. */
  readonly zeroPoints: Uint8Array | null;
}

/**
 * Packs a layer's codes, scales and zero points for MatMulNBits without changing any of them: the operator computes
 * (code − zero) · scale per block along K, which is our QDQ value (docs/algorithms/qdq.md), for asymmetric schemes and
 * for the full-range symmetric one (zero 2^(bits−1), the default when the input is absent).
 */
export function packMatMulNBits(layer: string, q: QuantizedWeight): MatMulNBitsTensors {
  const { codes, scales, zeros } = q;
  const [N, K] = q.shape;
  const bits = q.scheme.bits;
  if (!codes || !scales || !zeros) throw new AutoRoundError('E_FORMAT', `onnx: layer ${layer} has no integer codes (scheme ${q.scheme.data_type}${bits})`, { subject: layer });
  const bs = q.groupSize;
  if (!(MATMULNBITS_BITS as readonly number[]).includes(bits) || !(MATMULNBITS_BLOCK_SIZES as readonly number[]).includes(bs)) {
    throw new AutoRoundError('E_GROUP_SIZE', `onnx: layer ${layer} has bits ${bits} and groups of ${bs} inputs; MatMulNBits takes bits ${MATMULNBITS_BITS.join('/')} and block sizes ${MATMULNBITS_BLOCK_SIZES.join('/')}`, {
      subject: layer,
    });
  }
  const nBlocks = Math.ceil(K / bs);
  const blob = (bs * bits) / 8;
  const perByte = 8 / bits;
  const B = new Uint8Array(N * nBlocks * blob);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    const dst = n * nBlocks * blob;
    for (let k = 0; k < K; k++) {
      // block k/bs, element k%bs of it: byte (k%bs)/perByte of the block's blob, at bit (k % perByte)·bits
      const b = Math.floor(k / bs);
      const e = k - b * bs;
      B[dst + b * blob + Math.floor(e / perByte)]! |= codes[row + k]! << ((e % perByte) * bits);
    }
  }
  const mid = 1 << (bits - 1);
  let allMid = true;
  for (let i = 0; i < zeros.length; i++) if (zeros[i] !== mid) allMid = false;
  let zeroPoints: Uint8Array | null = null;
  if (!allMid) {
    const zpRow = Math.ceil((nBlocks * bits) / 8);
    zeroPoints = new Uint8Array(N * zpRow);
    for (let n = 0; n < N; n++) {
      for (let b = 0; b < nBlocks; b++) {
        const z = zeros[n * nBlocks + b]!;
        if (z < 0 || z >= 1 << bits) throw new AutoRoundError('E_FORMAT', `onnx: layer ${layer} has zero point ${z}, outside the ${bits}-bit range MatMulNBits stores`, { subject: layer });
        zeroPoints[n * zpRow + Math.floor(b / perByte)]! |= z << ((b % perByte) * bits);
      }
    }
  }
  if (scales.length !== N * nBlocks) throw new AutoRoundError('E_SHAPE', `onnx: layer ${layer} has ${scales.length} scales, expected ${N}·${nBlocks}`, { subject: layer });
  return { K, N, bits, blockSize: bs, nBlocks, B, scales: Float32Array.from(scales), zeroPoints };
}

/**
 * The weight MatMulNBits decodes from its tensors, [N, K] row-major, in float32: (code − zero) · scale. What the tests
 * compare with the algorithm's QDQ weight (onnxruntime decodes the same in its own tests, run on an identity input).
 */
export function unpackMatMulNBits(t: MatMulNBitsTensors): Float32Array {
  const { K, N, bits, blockSize: bs, nBlocks } = t;
  const blob = (bs * bits) / 8;
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  const zpRow = Math.ceil((nBlocks * bits) / 8);
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / bs);
      const e = k - b * bs;
      const code = (t.B[(n * nBlocks + b) * blob + Math.floor(e / perByte)]! >> ((e % perByte) * bits)) & mask;
      const zero = t.zeroPoints ? (t.zeroPoints[n * zpRow + Math.floor(b / perByte)]! >> ((b % perByte) * bits)) & mask : 1 << (bits - 1);
      w[n * K + k] = Math.fround((code - zero) * t.scales[n * nBlocks + b]!);
    }
  }
  return w;
}
