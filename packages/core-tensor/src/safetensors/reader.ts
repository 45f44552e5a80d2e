import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type DType, DTYPE_BYTES, isDType, numelOf } from '../dtype.js';
import { AutoRoundError, systemErrorWords } from '../errors.js';
import { Tensor } from '../tensor.js';

export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Absolute byte range in the file. */
  readonly begin: number;
  readonly end: number;
}

/** Headers larger than this are refused (the format caps them at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
/** Reads are issued in pieces no larger than this (readSync takes at most 2 GiB). */
const READ_CHUNK = 1 << 30;

function bad(path: string, what: string): AutoRoundError {
  return new AutoRoundError('E_SAFETENSORS', `${path}: malformed safetensors file: ${what}`, { subject: path });
}

/**
 * A safetensors file opened for lazy reading: the header is parsed and validated once,
 * each tensor is read from disk only when asked for.
 */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly fileSize: number;
  private readonly fd: number;
  private readonly infos: Map<string, TensorInfo>;
  private closed = false;

  private constructor(path: string, fd: number, fileSize: number, infos: Map<string, TensorInfo>, metadata: Record<string, string>) {
    this.path = path;
    this.fd = fd;
    this.fileSize = fileSize;
    this.infos = infos;
    this.metadata = metadata;
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new AutoRoundError('E_NOT_FOUND', `${path}: cannot open safetensors file (${(e as Error).message})`, { subject: path, cause: e });
    }
    try {
      const st = fstatSync(fd);
      // open() succeeds on a folder on Linux; the first read would fail with a bare EISDIR
      if (!st.isFile()) throw new AutoRoundError('E_NOT_A_FILE', `${path}: ${st.isDirectory() ? 'is a folder' : 'is not a regular file'}, expected a safetensors file`, { subject: path });
      const size = st.size;
      const { infos, metadata } = parseHeader(path, fd, size);
      return new SafetensorsFile(path, fd, size, infos, metadata);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  get names(): string[] {
    return [...this.infos.keys()];
  }

  has(name: string): boolean {
    return this.infos.has(name);
  }

  info(name: string): TensorInfo {
    const i = this.infos.get(name);
    if (!i) throw new AutoRoundError('E_NO_TENSOR', `${this.path}: no tensor named "${name}"`, { subject: name });
    return i;
  }

  /**
   * Raw bytes of one tensor, in a fresh aligned buffer, or in `into` (its first bytes) when
   * given: streaming readers reuse one buffer, since first-touching fresh memory costs more
   * than the read itself.
   */
  readBytes(name: string, into?: Uint8Array): Uint8Array {
    const i = this.info(name);
    return this.readRange(i.begin, i.end - i.begin, into);
  }

  /**
   * Raw bytes of rows [r0, r1) of one tensor, a row being its innermost dimension (a 0-/1-D tensor is one row), in
   * a fresh buffer or in `into`: a big tensor is streamed a few rows at a time instead of read whole.
   */
  readRowBytes(name: string, r0: number, r1: number, into?: Uint8Array): Uint8Array {
    const i = this.info(name);
    const rows = i.shape.length > 1 ? numelOf(i.shape) / i.shape[i.shape.length - 1]! : 1;
    if (!(Number.isInteger(r0) && Number.isInteger(r1) && 0 <= r0 && r0 <= r1 && r1 <= rows)) {
      throw new RangeError(`${this.path}: rows ${r0}…${r1} of tensor "${name}", which has ${rows}`);
    }
    const rowBytes = (i.end - i.begin) / rows;
    return this.readRange(i.begin + r0 * rowBytes, (r1 - r0) * rowBytes, into);
  }

  read(name: string): Tensor {
    const i = this.info(name);
    return Tensor.fromBytes(i.dtype, i.shape, this.readBytes(name));
  }

  /** The tensor widened to float32 (exact for every float dtype). */
  readFloat32(name: string): Tensor<'F32'> {
    return this.read(name).toFloat32();
  }

  readRange(position: number, length: number, into?: Uint8Array): Uint8Array {
    if (this.closed) throw new Error(`${this.path}: file is closed`);
    if (into && into.byteLength < length) throw new RangeError(`readRange: buffer of ${into.byteLength} bytes cannot hold ${length}`);
    const out = into ? into.subarray(0, length) : new Uint8Array(new ArrayBuffer(length));
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = readSync(this.fd, out, done, Math.min(READ_CHUNK, length - done), position + done);
      } catch (e) {
        // a read through a descriptor carries no path: name the file here (EIO on a failing disk or network mount)
        throw new AutoRoundError('E_READ', `${this.path}: cannot read bytes ${position + done}…${position + length}: ${systemErrorWords(e) ?? (e as Error).message}`, { subject: this.path, cause: e });
      }
      if (n <= 0) throw bad(this.path, `file ends before byte ${position + length}`);
      done += n;
    }
    return out;
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      closeSync(this.fd);
    }
  }
}

function parseHeader(path: string, fd: number, size: number): { infos: Map<string, TensorInfo>; metadata: Record<string, string> } {
  if (size < 8) throw bad(path, `file is ${size} bytes, shorter than the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  readSync(fd, lenBuf, 0, 8, 0);
  const hlen = lenBuf.readBigUInt64LE(0);
  if (hlen > BigInt(MAX_HEADER_BYTES)) throw bad(path, `header length ${hlen} exceeds ${MAX_HEADER_BYTES}`);
  const headerLen = Number(hlen);
  if (8 + headerLen > size) throw bad(path, `header length ${headerLen} runs past the end of the ${size}-byte file (truncated?)`);
  const hbuf = Buffer.alloc(headerLen);
  readSync(fd, hbuf, 0, headerLen, 8);
  let header: unknown;
  try {
    header = JSON.parse(hbuf.toString('utf8'));
  } catch (e) {
    throw bad(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad(path, 'header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataSize = size - dataStart;
  const infos = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null) throw bad(path, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw bad(path, `__metadata__.${k} is not a string`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) throw bad(path, `entry "${name}" is not an object`);
    if (typeof e.dtype !== 'string' || !isDType(e.dtype)) throw bad(path, `tensor "${name}" has unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(path, `tensor "${name}" has an invalid shape ${JSON.stringify(e.shape)}`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
      throw bad(path, `tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [b, en] = off as [number, number];
    const shape = e.shape as number[];
    const want = numelOf(shape) * DTYPE_BYTES[e.dtype];
    if (en - b !== want) {
      throw bad(path, `tensor "${name}" is ${e.dtype}[${shape.join(', ')}] = ${want} bytes but data_offsets span ${en - b} bytes`);
    }
    if (en > dataSize) throw bad(path, `tensor "${name}" ends at data byte ${en}, past the ${dataSize} data bytes in the file (truncated?)`);
    ranges.push([b, en, name]);
    infos.set(name, { name, dtype: e.dtype, shape, begin: dataStart + b, end: dataStart + en });
  }
  ranges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1]!;
    const cur = ranges[i]!;
    if (cur[0] < prev[1]) throw bad(path, `tensors "${prev[2]}" and "${cur[2]}" overlap`);
  }
  return { infos, metadata };
}
