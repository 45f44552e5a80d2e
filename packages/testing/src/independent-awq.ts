// An independent decoder of the AutoAWQ GEMM layout, written from docs/formats/gptq-awq-llmc.md#awq-gemm-layout and
// AutoAWQ's own unpack (unpack_awq + reverse_awq_order), not from the packer: each int32 word is
// cut into 8 nibbles at shifts 0, 4, …, 28, then the nibbles are reordered with
// AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7] to get 8 consecutive output columns.
import type { readSafetensors } from './independent-reader.js';

const AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7];

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function int32s(b: Buffer): Int32Array {
  return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

/** One int32 word → 8 values in output-column order. */
export function unpackAwqWord(word: number): number[] {
  const u = word >>> 0;
  const nibbles: number[] = [];
  for (let shift = 0; shift < 32; shift += 4) nibbles.push(Math.floor(u / 2 ** shift) % 16);
  return AWQ_REVERSE_ORDER.map((k) => nibbles[k]!);
}

/** Dequantizes `name`: W[o, i] = scales[g, o] · (iweight[i, o] − izeros[g, o]), g = i // group_size. */
export function dequantizeAwq(tensors: ReturnType<typeof readSafetensors>, name: string, groupSize: number): Float32Array {
  const qw = tensors.get(`${name}.qweight`)!;
  const qz = tensors.get(`${name}.qzeros`)!;
  const sc = tensors.get(`${name}.scales`)!;
  if (qw.dtype !== 'I32' || qz.dtype !== 'I32' || sc.dtype !== 'F16') throw new Error(`${name}: unexpected dtypes`);
  const [inF, cols] = qw.shape as [number, number];
  const out = cols * 8;
  const [G, zcols] = qz.shape as [number, number];
  if (zcols !== cols || sc.shape[0] !== G || sc.shape[1] !== out) throw new Error(`${name}: inconsistent shapes`);
  const gs = groupSize === -1 || groupSize > inF ? inF : groupSize;
  if (G !== Math.ceil(inF / gs)) throw new Error(`${name}: ${G} groups do not fit group_size ${gs}`);
  const qwI = int32s(qw.bytes);
  const qzI = int32s(qz.bytes);
  const scH = new Uint16Array(sc.bytes.buffer.slice(sc.bytes.byteOffset, sc.bytes.byteOffset + sc.bytes.length));
  const iweight: number[][] = [];
  for (let i = 0; i < inF; i++) {
    const row: number[] = [];
    for (let c = 0; c < cols; c++) row.push(...unpackAwqWord(qwI[i * cols + c]!));
    iweight.push(row);
  }
  const izeros: number[][] = [];
  for (let g = 0; g < G; g++) {
    const row: number[] = [];
    for (let c = 0; c < cols; c++) row.push(...unpackAwqWord(qzI[g * cols + c]!));
    izeros.push(row);
  }
  const w = new Float32Array(out * inF);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) {
      const g = Math.floor(i / gs);
      w[o * inF + i] = Math.fround(half(scH[g * out + o]!) * (iweight[i]![o]! - izeros[g]![o]!));
    }
  }
  return w;
}
