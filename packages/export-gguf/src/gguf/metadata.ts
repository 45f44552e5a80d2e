// GGUF metadata values (docs/formats/gguf.md#metadata): typed key/value records in insertion order.

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** GGML_MAX_NAME − 1: the longest tensor name, in bytes. */
export const GGUF_MAX_NAME_BYTES = 63;
export const GGML_MAX_DIMS = 4;

export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

export const GGUF_VALUE_TYPE_NAMES: readonly string[] = ['UINT8', 'INT8', 'UINT16', 'INT16', 'UINT32', 'INT32', 'FLOAT32', 'BOOL', 'STRING', 'ARRAY', 'UINT64', 'INT64', 'FLOAT64'];

/** Bytes of a fixed-size scalar type (0 for STRING and ARRAY). */
export const GGUF_SCALAR_BYTES: readonly number[] = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

export type GgufScalar = number | bigint | boolean | string;
export type GgufArray = readonly GgufScalar[] | Float32Array | Int32Array | Uint32Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Float64Array;

export interface GgufEntry {
  readonly type: GgufValueType;
  /** Element type, for ARRAY values. */
  readonly itemType?: GgufValueType;
  readonly value: GgufScalar | GgufArray;
}

/** An ordered set of typed metadata records. The setters name the GGUF type explicitly. */
export class GgufMetadata {
  readonly entries = new Map<string, GgufEntry>();

  set(key: string, entry: GgufEntry): this {
    if (key.length === 0) throw new Error('GGUF metadata keys must be non-empty');
    this.entries.set(key, entry);
    return this;
  }

  u8(key: string, v: number): this {
    return this.set(key, { type: GgufValueType.UINT8, value: v });
  }
  u32(key: string, v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`GGUF key ${key}: ${v} is not a UINT32`);
    return this.set(key, { type: GgufValueType.UINT32, value: v });
  }
  i32(key: string, v: number): this {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`GGUF key ${key}: ${v} is not an INT32`);
    return this.set(key, { type: GgufValueType.INT32, value: v });
  }
  u64(key: string, v: number | bigint): this {
    return this.set(key, { type: GgufValueType.UINT64, value: v });
  }
  f32(key: string, v: number): this {
    return this.set(key, { type: GgufValueType.FLOAT32, value: v });
  }
  bool(key: string, v: boolean): this {
    return this.set(key, { type: GgufValueType.BOOL, value: v });
  }
  str(key: string, v: string): this {
    return this.set(key, { type: GgufValueType.STRING, value: v });
  }
  strings(key: string, v: readonly string[]): this {
    return this.set(key, { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: v });
  }
  f32s(key: string, v: Float32Array | readonly number[]): this {
    return this.set(key, { type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value: v instanceof Float32Array ? v : Float32Array.from(v) });
  }
  i32s(key: string, v: Int32Array | readonly number[]): this {
    return this.set(key, { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value: v instanceof Int32Array ? v : Int32Array.from(v) });
  }
  u32s(key: string, v: Uint32Array | readonly number[]): this {
    return this.set(key, { type: GgufValueType.ARRAY, itemType: GgufValueType.UINT32, value: v instanceof Uint32Array ? v : Uint32Array.from(v) });
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }
  get(key: string): GgufEntry | undefined {
    return this.entries.get(key);
  }
  delete(key: string): boolean {
    return this.entries.delete(key);
  }
  get size(): number {
    return this.entries.size;
  }
}

// ------------------------------------------------------------------ encoding

const enc = new TextEncoder();

function scalarBytes(type: number, v: GgufScalar): number {
  if (type === GgufValueType.STRING) return 8 + enc.encode(String(v)).byteLength;
  return GGUF_SCALAR_BYTES[type]!;
}

function entryBytes(key: string, e: GgufEntry): number {
  let n = 8 + enc.encode(key).byteLength + 4;
  if (e.type === GgufValueType.ARRAY) {
    n += 4 + 8;
    const arr = e.value as GgufArray;
    if (e.itemType === GgufValueType.STRING) for (const s of arr as readonly string[]) n += 8 + Buffer.byteLength(s, 'utf8');
    else n += arr.length * GGUF_SCALAR_BYTES[e.itemType!]!;
  } else n += scalarBytes(e.type, e.value as GgufScalar);
  return n;
}

/** A little-endian byte sink over a pre-sized buffer. */
export class ByteWriter {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }
  u8(v: number): void {
    this.buf.writeUInt8(v & 0xff, this.pos);
    this.pos += 1;
  }
  u32(v: number): void {
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }
  i32(v: number): void {
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
  }
  u64(v: number | bigint): void {
    this.buf.writeBigUInt64LE(BigInt(v), this.pos);
    this.pos += 8;
  }
  i64(v: number | bigint): void {
    this.buf.writeBigInt64LE(BigInt(v), this.pos);
    this.pos += 8;
  }
  str(s: string): void {
    const n = this.buf.write(s, this.pos + 8, 'utf8');
    this.buf.writeBigUInt64LE(BigInt(n), this.pos);
    this.pos += 8 + n;
  }
  scalar(type: number, v: GgufScalar): void {
    const b = this.buf;
    switch (type) {
      case GgufValueType.UINT8: b.writeUInt8(Number(v), this.pos); break;
      case GgufValueType.INT8: b.writeInt8(Number(v), this.pos); break;
      case GgufValueType.UINT16: b.writeUInt16LE(Number(v), this.pos); break;
      case GgufValueType.INT16: b.writeInt16LE(Number(v), this.pos); break;
      case GgufValueType.UINT32: b.writeUInt32LE(Number(v), this.pos); break;
      case GgufValueType.INT32: b.writeInt32LE(Number(v), this.pos); break;
      case GgufValueType.FLOAT32: b.writeFloatLE(Number(v), this.pos); break;
      case GgufValueType.BOOL: b.writeUInt8(v ? 1 : 0, this.pos); break;
      case GgufValueType.UINT64: b.writeBigUInt64LE(BigInt(v as number), this.pos); break;
      case GgufValueType.INT64: b.writeBigInt64LE(BigInt(v as number), this.pos); break;
      case GgufValueType.FLOAT64: b.writeDoubleLE(Number(v), this.pos); break;
      case GgufValueType.STRING: this.str(String(v)); return;
      default: throw new Error(`cannot write GGUF value type ${type}`);
    }
    this.pos += GGUF_SCALAR_BYTES[type]!;
  }
}

/** Encodes the key/value records, in insertion order. */
export function encodeMetadata(md: GgufMetadata): Buffer {
  let size = 0;
  for (const [k, e] of md.entries) size += entryBytes(k, e);
  const w = new ByteWriter(size);
  for (const [k, e] of md.entries) {
    w.str(k);
    w.u32(e.type);
    if (e.type === GgufValueType.ARRAY) {
      if (e.itemType === undefined || e.itemType === GgufValueType.ARRAY) throw new Error(`GGUF key ${k}: arrays need a scalar element type (no nested arrays)`);
      const arr = e.value as GgufArray;
      w.u32(e.itemType);
      w.u64(arr.length);
      for (let i = 0; i < arr.length; i++) w.scalar(e.itemType, arr[i] as GgufScalar);
    } else w.scalar(e.type, e.value as GgufScalar);
  }
  if (w.pos !== size) throw new Error(`internal: metadata size ${w.pos} ≠ ${size}`);
  return w.buf;
}
