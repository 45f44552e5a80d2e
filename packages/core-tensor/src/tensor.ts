import { type ArrayOf, type DType, DTYPE_BYTES, bytesOf, numelOf, viewBytes } from './dtype.js';
import { fromFloat32, toFloat32 } from './convert.js';

/**
 * A dense, row-major tensor over a typed array. Narrow floats (F16, BF16, F8) hold their
 * bit patterns; `toFloat32()` widens them exactly. Views share memory with their parent.
 */
export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: ArrayOf<D>;

  constructor(dtype: D, shape: readonly number[], data: ArrayOf<D>) {
    const n = numelOf(shape);
    if (data.length !== n) {
      throw new RangeError(`Tensor: shape [${shape.join(', ')}] needs ${n} elements, got ${data.length}`);
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = data;
  }

  static f32(shape: readonly number[], data?: Float32Array): Tensor<'F32'> {
    return new Tensor('F32', shape, data ?? new Float32Array(numelOf(shape)));
  }

  static fromBytes<D extends DType>(dtype: D, shape: readonly number[], bytes: Uint8Array): Tensor<D> {
    const need = numelOf(shape) * DTYPE_BYTES[dtype];
    if (bytes.byteLength !== need) {
      throw new RangeError(`Tensor.fromBytes: ${dtype}[${shape.join(', ')}] needs ${need} bytes, got ${bytes.byteLength}`);
    }
    return new Tensor(dtype, shape, viewBytes(dtype, bytes));
  }

  get numel(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Size of one index step along the first dimension. */
  get rowSize(): number {
    return this.shape.length === 0 ? 1 : this.data.length / this.shape[0]!;
  }

  bytes(): Uint8Array {
    return bytesOf(this.data);
  }

  reshape(shape: readonly number[]): Tensor<D> {
    const known = shape.filter((d) => d !== -1);
    const prod = numelOf(known);
    const s = shape.map((d) => (d === -1 ? this.numel / prod : d));
    return new Tensor(this.dtype, s, this.data);
  }

  /** Rows [start, end) along the first dimension, sharing memory. */
  rows(start: number, end: number): Tensor<D> {
    const rs = this.rowSize;
    if (start < 0 || end > this.shape[0]! || start > end) {
      throw new RangeError(`rows(${start}, ${end}) outside [0, ${this.shape[0]}]`);
    }
    const sub = (this.data as unknown as { subarray(a: number, b: number): ArrayOf<D> }).subarray(start * rs, end * rs);
    return new Tensor(this.dtype, [end - start, ...this.shape.slice(1)], sub);
  }

  /**
   * The tensor seen as [numel / groupSize, groupSize]; the last dimension must divide evenly.
   * Quantization groups run along the innermost (input) dimension.
   */
  groups(groupSize: number): Tensor<D> {
    const last = this.shape[this.shape.length - 1]!;
    if (last % groupSize !== 0) throw new RangeError(`groups(${groupSize}): last dimension ${last} is not a multiple`);
    return this.reshape([this.numel / groupSize, groupSize]);
  }

  toFloat32(): Tensor<'F32'> {
    return new Tensor('F32', this.shape, toFloat32(this.dtype, this.data));
  }

  /** Casts float32 values to `dtype` with the rounding of a PyTorch cast. */
  static castFromF32<T extends DType>(dtype: T, t: Tensor<'F32'>): Tensor<T> {
    return new Tensor(dtype, t.shape, fromFloat32(dtype, t.data));
  }

  clone(): Tensor<D> {
    return new Tensor(this.dtype, this.shape, (this.data as unknown as { slice(): ArrayOf<D> }).slice());
  }

  /** Transpose of a 2-D tensor (copy). */
  transpose2d(): Tensor<D> {
    if (this.rank !== 2) throw new RangeError('transpose2d needs a 2-D tensor');
    const [r, c] = this.shape as [number, number];
    const src = this.data as unknown as { [i: number]: number | bigint; length: number };
    const Ctor = (this.data as unknown as { constructor: new (n: number) => ArrayOf<D> }).constructor;
    const out = new Ctor(r * c) as unknown as { [i: number]: number | bigint };
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j]!;
    return new Tensor(this.dtype, [c, r], out as unknown as ArrayOf<D>);
  }
}
