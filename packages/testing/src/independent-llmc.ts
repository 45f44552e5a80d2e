// An independent decoder of compressed-tensors' pack-quantized layout, written from
// compressed-tensors' unpack_from_int32 / dequantize (PackedQuantizationCompressor), not from the
// packer: pack_factor = 32 // num_bits values per int32, value i of a row at shift num_bits·i,
// unsigned values minus 2^(num_bits−1) give the signed int8 levels; zero points are packed the
// same way along dim 0 (the output dim); weight = (x_q − zero_point) · scale, no zero point for sym.
import type { readSafetensors } from './independent-reader.js';

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

type Tensors = ReturnType<typeof readSafetensors>;

function values(t: { dtype: string; bytes: Buffer }): number[] {
  const b = t.bytes;
  const out: number[] = [];
  if (t.dtype === 'I32') for (let k = 0; k < b.length; k += 4) out.push(b.readInt32LE(k));
  else if (t.dtype === 'I64') for (let k = 0; k < b.length; k += 8) out.push(Number(b.readBigInt64LE(k)));
  else if (t.dtype === 'F16') for (let k = 0; k < b.length; k += 2) out.push(half(b.readUInt16LE(k)));
  else if (t.dtype === 'BF16') for (let k = 0; k < b.length; k += 2) out.push(new Float32Array(new Uint32Array([b.readUInt16LE(k) * 65536]).buffer)[0]!);
  else if (t.dtype === 'F32') for (let k = 0; k < b.length; k += 4) out.push(b.readFloatLE(k));
  else throw new Error(`unexpected dtype ${t.dtype}`);
  return out;
}

/** unpack_from_int32(value, num_bits, shape, packed_dim=1): [rows, cols·pf] unsigned → signed, cut to shape[1]. */
function unpackRows(packed: number[], rows: number, cols: number, bits: number, keep: number): number[][] {
  const pf = Math.floor(32 / bits);
  const mask = 2 ** bits;
  const offset = 2 ** bits / 2;
  const res: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const row = new Array<number>(cols * pf).fill(0);
    for (let i = 0; i < pf; i++) {
      for (let c = 0; c < cols; c++) row[c * pf + i] = Math.floor((packed[r * cols + c]! >>> 0) / 2 ** (bits * i)) % mask;
    }
    res.push(row.slice(0, keep).map((v) => v - offset));
  }
  return res;
}

/** Dequantizes `name` with the config group's num_bits and group_size (null: channel); returns the weight and whether a zero point was stored. */
export function dequantizeLlmc(tensors: Tensors, name: string, bits: number, groupSize: number | null): { w: Float32Array; zeroPoint: boolean; shape: [number, number] } {
  const packed = tensors.get(`${name}.weight_packed`)!;
  const shapeT = tensors.get(`${name}.weight_shape`)!;
  const scaleT = tensors.get(`${name}.weight_scale`)!;
  if (packed.dtype !== 'I32') throw new Error(`${name}: weight_packed is ${packed.dtype}`);
  const [out, inF] = values(shapeT) as [number, number];
  const [rows, cols] = packed.shape as [number, number];
  if (rows !== out || cols !== Math.ceil(inF / Math.floor(32 / bits))) throw new Error(`${name}: weight_packed [${packed.shape}] does not fit [${out}, ${inF}]`);
  const xq = unpackRows(values(packed), rows, cols, bits, inF);
  const scale = values(scaleT);
  const G = scaleT.shape[1]!;
  const gs = groupSize === null || groupSize <= 0 || groupSize > inF ? inF : groupSize;
  if (G !== Math.ceil(inF / gs)) throw new Error(`${name}: ${G} scale groups do not fit group_size ${groupSize}`);
  let zp: number[][] | undefined;
  const zt = tensors.get(`${name}.weight_zero_point`);
  if (zt) {
    // packed_dim=0: transpose [zrows, G] → [G, zrows], unpack rows, keep `out`, transpose back
    const [zrows, zg] = zt.shape as [number, number];
    if (zg !== G) throw new Error(`${name}: weight_zero_point has ${zg} groups, scales ${G}`);
    const zv = values(zt);
    const transposed: number[] = [];
    for (let g = 0; g < G; g++) for (let r = 0; r < zrows; r++) transposed.push(zv[r * G + g]!);
    zp = unpackRows(transposed, G, zrows, bits, out); // zp[g][o]
  }
  const w = new Float32Array(out * inF);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) {
      const g = Math.floor(i / gs);
      const z = zp ? zp[g]![o]! : 0;
      w[o * inF + i] = Math.fround(scale[o * G + g]! * (xq[o]![i]! - z));
    }
  }
  return { w, zeroPoint: !!zt, shape: [out, inF] };
}
