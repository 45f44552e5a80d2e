// Reads and validates a GGUF file's header the way llama.cpp's gguf.cpp does (docs/formats/gguf.md#container):
// magic, version, counts, key types, duplicate keys, nested arrays, alignment, tensor names and
// dims, block divisibility, packed aligned offsets and sizes. Anything off throws an
// AutoRoundError naming the file and what is wrong.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { AutoRoundError } from '@autoround/core-tensor';
import { blockSizeOf, dequantizeRows, ggmlTypeName, isKnownGgmlType, tensorBytes } from '@autoround/quant-types';
import {
  GGML_MAX_DIMS,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_NAME_BYTES,
  GGUF_SCALAR_BYTES,
  GGUF_VALUE_TYPE_NAMES,
  GGUF_VERSION,
  GgufValueType,
  type GgufArray,
  type GgufEntry,
  type GgufScalar,
} from './metadata.js';
import { alignUp } from './writer.js';

export interface GgufTensorInfo {
  readonly name: string;
  readonly ne: readonly number[];
  readonly type: number;
  /** Relative to the data section. */
  readonly offset: number;
  readonly nbytes: number;
}

export interface GgufFile {
  readonly path: string;
  readonly version: number;
  readonly alignment: number;
  readonly metadata: ReadonlyMap<string, GgufEntry>;
  readonly tensors: readonly GgufTensorInfo[];
  /** Absolute file offset of the data section. */
  readonly dataOffset: number;
  readonly fileSize: number;
}

function bad(path: string, what: string): AutoRoundError {
  return new AutoRoundError('E_GGUF', `${path}: malformed GGUF file: ${what}`, { subject: path });
}

const CHUNK = 1 << 20;
const dec = new TextDecoder('utf-8', { fatal: true });

/** Sequential little-endian reads from a file, a megabyte at a time. */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly path: string,
  ) {}

  private ensure(n: number, what: string): void {
    if (this.pos + n > this.size) throw bad(this.path, `file ends at byte ${this.size} while reading ${what} (needs ${n} bytes at ${this.pos}; truncated?)`);
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(Math.max(n, CHUNK), this.size - this.pos);
    this.buf = Buffer.alloc(len);
    let done = 0;
    while (done < len) {
      const r = readSync(this.fd, this.buf, done, len - done, this.pos + done);
      if (r <= 0) throw bad(this.path, `read failed at byte ${this.pos + done}`);
      done += r;
    }
    this.bufStart = this.pos;
  }
  private at(): number {
    return this.pos - this.bufStart;
  }
  u8(what: string): number {
    this.ensure(1, what);
    const v = this.buf.readUInt8(this.at());
    this.pos += 1;
    return v;
  }
  u32(what: string): number {
    this.ensure(4, what);
    const v = this.buf.readUInt32LE(this.at());
    this.pos += 4;
    return v;
  }
  i64(what: string): bigint {
    this.ensure(8, what);
    const v = this.buf.readBigInt64LE(this.at());
    this.pos += 8;
    return v;
  }
  u64(what: string): bigint {
    this.ensure(8, what);
    const v = this.buf.readBigUInt64LE(this.at());
    this.pos += 8;
    return v;
  }
  str(what: string): string {
    const n = this.u64(`${what} length`);
    if (n > BigInt(this.size - this.pos)) throw bad(this.path, `${what}: string length ${n} runs past the end of the ${this.size}-byte file (truncated?)`);
    const len = Number(n);
    this.ensure(len, what);
    try {
      const s = dec.decode(this.buf.subarray(this.at(), this.at() + len));
      this.pos += len;
      return s;
    } catch {
      throw bad(this.path, `${what} is not valid UTF-8`);
    }
  }
  scalar(type: number, what: string): GgufScalar {
    const n = GGUF_SCALAR_BYTES[type]!;
    if (type === GgufValueType.STRING) return this.str(what);
    this.ensure(n, what);
    const o = this.at();
    const b = this.buf;
    let v: GgufScalar;
    switch (type) {
      case GgufValueType.UINT8: v = b.readUInt8(o); break;
      case GgufValueType.INT8: v = b.readInt8(o); break;
      case GgufValueType.UINT16: v = b.readUInt16LE(o); break;
      case GgufValueType.INT16: v = b.readInt16LE(o); break;
      case GgufValueType.UINT32: v = b.readUInt32LE(o); break;
      case GgufValueType.INT32: v = b.readInt32LE(o); break;
      case GgufValueType.FLOAT32: v = b.readFloatLE(o); break;
      case GgufValueType.BOOL: {
        const x = b.readUInt8(o);
        if (x > 1) throw bad(this.path, `${what}: BOOL value ${x} (must be 0 or 1)`);
        v = x === 1;
        break;
      }
      case GgufValueType.UINT64: v = toNum(b.readBigUInt64LE(o)); break;
      case GgufValueType.INT64: v = toNum(b.readBigInt64LE(o)); break;
      case GgufValueType.FLOAT64: v = b.readDoubleLE(o); break;
      default: throw bad(this.path, `${what}: unknown value type ${type}`);
    }
    this.pos += n;
    return v;
  }
}

function toNum(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function readArray(c: Cursor, path: string, key: string): GgufEntry {
  const itemType = c.u32(`${key}: array element type`);
  if (itemType === GgufValueType.ARRAY) throw bad(path, `key "${key}" is an array of arrays (not supported by llama.cpp)`);
  if (itemType > GgufValueType.FLOAT64) throw bad(path, `key "${key}": unknown array element type ${itemType}`);
  const count = c.u64(`${key}: array length`);
  const minBytes = itemType === GgufValueType.STRING ? 8 : GGUF_SCALAR_BYTES[itemType]!;
  if (count * BigInt(minBytes) > BigInt(c.size - c.pos)) throw bad(path, `key "${key}": array of ${count} ${GGUF_VALUE_TYPE_NAMES[itemType]} runs past the end of the file`);
  const n = Number(count);
  let value: GgufArray;
  switch (itemType) {
    case GgufValueType.FLOAT32: {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = c.scalar(itemType, key) as number;
      value = a;
      break;
    }
    case GgufValueType.INT32: {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = c.scalar(itemType, key) as number;
      value = a;
      break;
    }
    case GgufValueType.UINT32: {
      const a = new Uint32Array(n);
      for (let i = 0; i < n; i++) a[i] = c.scalar(itemType, key) as number;
      value = a;
      break;
    }
    default: {
      const a: GgufScalar[] = new Array(n);
      for (let i = 0; i < n; i++) a[i] = c.scalar(itemType, key);
      value = a;
    }
  }
  return { type: GgufValueType.ARRAY, itemType: itemType as GgufValueType, value };
}

/** Parses and validates the header (metadata and tensor infos) of a GGUF file. */
export function readGguf(path: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new AutoRoundError('E_NOT_FOUND', `${path}: cannot open GGUF file (${(e as Error).message})`, { subject: path, cause: e });
  }
  try {
    const st = fstatSync(fd);
    // open() succeeds on a folder on Linux; the first read would fail with a bare EISDIR
    if (!st.isFile()) throw new AutoRoundError('E_NOT_A_FILE', `${path}: ${st.isDirectory() ? 'is a folder' : 'is not a regular file'}, expected a .gguf file`, { subject: path });
    return parse(path, fd, st.size);
  } finally {
    closeSync(fd);
  }
}

function parse(path: string, fd: number, size: number): GgufFile {
  const c = new Cursor(fd, size, path);
  if (size < 4) throw bad(path, `file is ${size} bytes, too short for the magic`);
  const magic = c.u32('magic');
  if (magic !== GGUF_MAGIC) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(magic);
    throw bad(path, `bad magic ${JSON.stringify(b.toString('latin1'))} (expected "GGUF"; not a GGUF file)`);
  }
  const version = c.u32('version');
  if ((version & 0xffff) === 0) throw bad(path, `version ${version} looks byte-swapped (a big-endian file?); only little-endian GGUF is supported`);
  if (version === 1) throw bad(path, 'GGUF version 1 is no longer supported (expected version 3)');
  if (version > GGUF_VERSION) throw bad(path, `GGUF version ${version} is newer than the supported version ${GGUF_VERSION}`);
  if (version < 2) throw bad(path, `GGUF version ${version} is not supported`);
  const nTensors = c.i64('tensor count');
  const nKv = c.i64('metadata count');
  // every KV record needs ≥ 8+1+4+1 bytes and every tensor info ≥ 8+1+4+8+4+8
  if (nTensors < 0n || nTensors * 33n > BigInt(size)) throw bad(path, `tensor count ${nTensors} is impossible for a ${size}-byte file (truncated or corrupt?)`);
  if (nKv < 0n || nKv * 14n > BigInt(size)) throw bad(path, `metadata count ${nKv} is impossible for a ${size}-byte file (truncated or corrupt?)`);

  const metadata = new Map<string, GgufEntry>();
  for (let i = 0; i < Number(nKv); i++) {
    const key = c.str(`metadata key #${i}`);
    if (key.length === 0) throw bad(path, `metadata key #${i} is empty`);
    if (metadata.has(key)) throw bad(path, `duplicate metadata key "${key}"`);
    const type = c.u32(`type of key "${key}"`);
    if (type > GgufValueType.FLOAT64) throw bad(path, `key "${key}" has unknown value type ${type}`);
    const entry = type === GgufValueType.ARRAY ? readArray(c, path, key) : { type: type as GgufValueType, value: c.scalar(type, `value of key "${key}"`) };
    metadata.set(key, entry);
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    const v = Number(al.value);
    if (al.type !== GgufValueType.UINT32) throw bad(path, `general.alignment has type ${GGUF_VALUE_TYPE_NAMES[al.type]} (must be UINT32)`);
    if (v === 0 || (v & (v - 1)) !== 0) throw bad(path, `general.alignment ${v} is not a non-zero power of two`);
    alignment = v;
  }

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  let expectOffset = 0;
  for (let i = 0; i < Number(nTensors); i++) {
    const name = c.str(`name of tensor #${i}`);
    const nb = Buffer.byteLength(name, 'utf8');
    if (nb === 0 || nb > GGUF_MAX_NAME_BYTES) throw bad(path, `tensor #${i} name "${name}" is ${nb} bytes (1..${GGUF_MAX_NAME_BYTES} allowed)`);
    if (names.has(name)) throw bad(path, `duplicate tensor name "${name}"`);
    names.add(name);
    const nDims = c.u32(`dims of tensor "${name}"`);
    if (nDims < 1 || nDims > GGML_MAX_DIMS) throw bad(path, `tensor "${name}" has ${nDims} dims (1..${GGML_MAX_DIMS} allowed)`);
    const ne: number[] = [];
    let numel = 1n;
    for (let d = 0; d < nDims; d++) {
      const v = c.i64(`dim ${d} of tensor "${name}"`);
      if (v < 0n) throw bad(path, `tensor "${name}" has negative dim ne[${d}] = ${v}`);
      numel *= v;
      if (numel > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(path, `tensor "${name}" has too many elements`);
      ne.push(Number(v));
    }
    const type = c.u32(`type of tensor "${name}"`);
    if (!isKnownGgmlType(type)) throw bad(path, `tensor "${name}" has unknown ggml type ${type}`);
    const bs = blockSizeOf(type);
    if (ne[0]! % bs !== 0) throw bad(path, `tensor "${name}": ne[0] = ${ne[0]} is not a multiple of the ${ggmlTypeName(type)} block size ${bs}`);
    const offset = c.u64(`offset of tensor "${name}"`);
    if (offset !== BigInt(expectOffset)) {
      throw bad(path, `tensor "${name}" has data offset ${offset}, expected ${expectOffset} (tensors must be packed in order, each aligned to ${alignment})`);
    }
    const nbytes = tensorBytes(type, ne);
    tensors.push({ name, ne, type, offset: expectOffset, nbytes });
    expectOffset += alignUp(nbytes, alignment);
  }
  const dataOffset = nTensors > 0n ? alignUp(c.pos, alignment) : c.pos;
  const dataEnd = dataOffset + (tensors.length > 0 ? tensors[tensors.length - 1]!.offset + tensors[tensors.length - 1]!.nbytes : 0);
  if (dataEnd > size) {
    const short = tensors.find((t) => dataOffset + t.offset + t.nbytes > size)!;
    throw bad(path, `tensor "${short.name}" (${ggmlTypeName(short.type)} [${short.ne.join(', ')}], ${short.nbytes} bytes at ${dataOffset + short.offset}) ends past the end of the ${size}-byte file (truncated?)`);
  }
  return { path, version, alignment, metadata, tensors, dataOffset, fileSize: size };
}

/** The raw bytes of one tensor. */
export function readGgufTensorBytes(file: GgufFile, name: string): Uint8Array {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new AutoRoundError('E_NO_TENSOR', `${file.path}: no tensor named "${name}"`, { subject: name });
  const fd = openSync(file.path, 'r');
  try {
    const out = new Uint8Array(t.nbytes);
    let done = 0;
    while (done < t.nbytes) {
      const r = readSync(fd, out, done, Math.min(1 << 30, t.nbytes - done), file.dataOffset + t.offset + done);
      if (r <= 0) throw bad(file.path, `tensor "${name}" is truncated`);
      done += r;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** One tensor dequantized to float32 (row-major, ne[0] fastest). */
export function readGgufTensorF32(file: GgufFile, name: string): Float32Array {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new AutoRoundError('E_NO_TENSOR', `${file.path}: no tensor named "${name}"`, { subject: name });
  return dequantizeRows(t.type, readGgufTensorBytes(file, name), t.ne.reduce((a, b) => a * b, 1));
}

/** A metadata value, or undefined. */
export function ggufValue(file: GgufFile, key: string): GgufScalar | GgufArray | undefined {
  return file.metadata.get(key)?.value;
}
