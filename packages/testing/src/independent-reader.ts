// An independent decoder of the auto_round / GPTQ layouts, written from
// docs/formats/gptq-awq-llmc.md#gptq-tensor-layout without using the packer's code: it parses safetensors by hand and unpacks words
// following the spec's own description of each bit width.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export function readSafetensors(dir: string): Map<string, { dtype: string; shape: number[]; bytes: Buffer }> {
  const out = new Map<string, { dtype: string; shape: number[]; bytes: Buffer }>();
  const files = existsSync(join(dir, 'model.safetensors.index.json'))
    ? [...new Set(Object.values(JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')).weight_map as Record<string, string>))]
    : ['model.safetensors'];
  for (const f of files) {
    const buf = readFileSync(join(dir, f));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, Entry>;
    for (const [name, e] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      out.set(name, { dtype: e.dtype, shape: e.shape, bytes: buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]) });
    }
  }
  return out;
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The 32 values held by the word group starting at word index w0 (b words for 32 values). */
function unpack32(word: (k: number) => number, bits: number): number[] {
  const vals: number[] = [];
  if (bits === 3) {
    const w0 = word(0) >>> 0;
    const w1 = word(1) >>> 0;
    const w2 = word(2) >>> 0;
    for (let j = 0; j < 10; j++) vals.push((w0 >>> (3 * j)) & 7);
    vals.push(((w0 >>> 30) & 3) | ((w1 & 1) << 2)); // value 10: low 2 bits at 30 of word0, high bit at bit 0 of word1
    for (let j = 0; j < 10; j++) vals.push((w1 >>> (1 + 3 * j)) & 7);
    vals.push(((w1 >>> 31) & 1) | ((w2 & 3) << 1)); // value 21: low bit at 31 of word1, high 2 bits at 0–1 of word2
    for (let j = 0; j < 10; j++) vals.push((w2 >>> (2 + 3 * j)) & 7);
    return vals;
  }
  const per = 32 / bits;
  for (let k = 0; k < bits; k++) {
    const w = word(k) >>> 0;
    for (let j = 0; j < per; j++) vals.push(Math.floor(w / 2 ** (j * bits)) % 2 ** bits);
  }
  return vals;
}

/** Dequantizes layer `name`: W[o,i] = scales[g,o]·(q[i,o] − zero[g,o]), zero = stored + 1 for GPTQ v1. */
export function dequantizeLayer(
  tensors: ReturnType<typeof readSafetensors>,
  name: string,
  bits: number,
  groupSize: number,
  zeroPlusOne: boolean,
): { out: number; inF: number; w: Float32Array } {
  const qw = tensors.get(`${name}.qweight`)!;
  const qz = tensors.get(`${name}.qzeros`)!;
  const sc = tensors.get(`${name}.scales`)!;
  if (qw.dtype !== 'I32' || qz.dtype !== 'I32' || sc.dtype !== 'F16') throw new Error(`${name}: unexpected dtypes`);
  const [rows, out] = qw.shape as [number, number];
  const inF = (rows * 32) / bits;
  const [G, zcols] = qz.shape as [number, number];
  if (sc.shape[0] !== G || sc.shape[1] !== out || zcols !== (out * bits) / 32) throw new Error(`${name}: inconsistent shapes`);
  const gs = groupSize === -1 || groupSize > inF ? inF : groupSize;
  if (Math.ceil(inF / gs) !== G) throw new Error(`${name}: ${G} groups do not fit group_size ${gs}`);
  const qwI = new Int32Array(qw.bytes.buffer.slice(qw.bytes.byteOffset, qw.bytes.byteOffset + qw.bytes.length));
  const qzI = new Int32Array(qz.bytes.buffer.slice(qz.bytes.byteOffset, qz.bytes.byteOffset + qz.bytes.length));
  const scH = new Uint16Array(sc.bytes.buffer.slice(sc.bytes.byteOffset, sc.bytes.byteOffset + sc.bytes.length));
  // codes[i][o]: per output column, each run of `bits` words holds 32 consecutive inputs
  const codes = new Int32Array(inF * out);
  for (let o = 0; o < out; o++) {
    for (let blk = 0; blk < inF / 32; blk++) {
      const vals = unpack32((k) => qwI[(blk * bits + k) * out + o]!, bits);
      for (let j = 0; j < 32; j++) codes[(blk * 32 + j) * out + o] = vals[j]!;
    }
  }
  const zeros = new Int32Array(G * out);
  for (let g = 0; g < G; g++) {
    for (let blk = 0; blk < out / 32; blk++) {
      const vals = unpack32((k) => qzI[g * zcols + blk * bits + k]!, bits);
      for (let j = 0; j < 32; j++) zeros[g * out + blk * 32 + j] = vals[j]! + (zeroPlusOne ? 1 : 0);
    }
  }
  const w = new Float32Array(out * inF);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) {
      const g = Math.floor(i / gs);
      w[o * inF + i] = Math.fround(half(scH[g * out + o]!) * (codes[i * out + o]! - zeros[g * out + o]!));
    }
  }
  return { out, inF, w };
}

export function f32Of(t: { dtype: string; bytes: Buffer }): Float32Array {
  if (t.dtype !== 'F32') throw new Error(`expected F32, got ${t.dtype}`);
  return new Float32Array(t.bytes.buffer.slice(t.bytes.byteOffset, t.bytes.byteOffset + t.bytes.length));
}
