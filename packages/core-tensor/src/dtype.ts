/** Element types a checkpoint can store, named as safetensors names them. */
export type DType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'F8_E4M3'
  | 'F8_E5M2'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** The typed array that holds each dtype's raw elements (bit patterns for the narrow floats). */
export interface DTypeArrays {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  F8_E4M3: Uint8Array;
  F8_E5M2: Uint8Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U64: BigUint64Array;
  U32: Uint32Array;
  U16: Uint16Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}

export type ArrayOf<D extends DType> = DTypeArrays[D];

export function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

export function isFloatDType(d: DType): boolean {
  return d === 'F64' || d === 'F32' || d === 'F16' || d === 'BF16' || d === 'F8_E4M3' || d === 'F8_E5M2';
}

/** Views raw little-endian bytes as the dtype's typed array, copying only when unaligned. */
export function viewBytes<D extends DType>(dtype: D, bytes: Uint8Array): ArrayOf<D> {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  let b = bytes;
  if (b.byteOffset % size !== 0) b = b.slice();
  const n = b.byteLength / size;
  const buf = b.buffer;
  const off = b.byteOffset;
  switch (dtype) {
    case 'F64':
      return new Float64Array(buf, off, n) as ArrayOf<D>;
    case 'F32':
      return new Float32Array(buf, off, n) as ArrayOf<D>;
    case 'F16':
    case 'BF16':
    case 'U16':
      return new Uint16Array(buf, off, n) as ArrayOf<D>;
    case 'I64':
      return new BigInt64Array(buf, off, n) as ArrayOf<D>;
    case 'U64':
      return new BigUint64Array(buf, off, n) as ArrayOf<D>;
    case 'I32':
      return new Int32Array(buf, off, n) as ArrayOf<D>;
    case 'U32':
      return new Uint32Array(buf, off, n) as ArrayOf<D>;
    case 'I16':
      return new Int16Array(buf, off, n) as ArrayOf<D>;
    case 'I8':
      return new Int8Array(buf, off, n) as ArrayOf<D>;
    default:
      return new Uint8Array(buf, off, n) as ArrayOf<D>;
  }
}

/** The bytes behind a typed array (no copy). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
