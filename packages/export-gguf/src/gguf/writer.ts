// A streaming GGUF v3 writer (docs/formats/gguf.md#container): the tensor infos are declared up front, so every
// tensor's offset is known before any data exists; data is then written at its offset as it is
// produced, in any order, and close() checks that everything arrived. Memory: one tensor.

import { closeSync, ftruncateSync, openSync, rmSync, writeSync } from 'node:fs';
import { AutoRoundError, writing } from '@autoround/core-tensor';
import { blockSizeOf, ggmlTypeName, isKnownGgmlType, tensorBytes } from '@autoround/quant-types';
import { ByteWriter, encodeMetadata, GGML_MAX_DIMS, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_NAME_BYTES, GGUF_VERSION, GgufMetadata, GgufValueType } from './metadata.js';

export interface GgufTensorSpec {
  readonly name: string;
  /** Dimensions innermost first (a [out, in] matrix is ne = [in, out]). */
  readonly ne: readonly number[];
  /** ggml_type id. */
  readonly type: number;
}

export interface PlacedTensor extends GgufTensorSpec {
  /** Offset relative to the start of the data section. */
  readonly offset: number;
  readonly nbytes: number;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function bad(path: string, msg: string, subject?: string): AutoRoundError {
  return new AutoRoundError('E_GGUF', `${path}: ${msg}`, { subject: subject ?? path });
}

/** Reads general.alignment from the metadata (must be a UINT32 power of two), else 32. */
export function alignmentOf(md: GgufMetadata, path: string): number {
  const e = md.get('general.alignment');
  if (!e) return GGUF_DEFAULT_ALIGNMENT;
  const v = Number(e.value);
  if (e.type !== GgufValueType.UINT32 || !Number.isInteger(v) || v <= 0 || (v & (v - 1)) !== 0) {
    throw bad(path, `general.alignment must be a UINT32 power of two, got ${String(e.value)}`, 'general.alignment');
  }
  return v;
}

/** Checks names, dims and block divisibility, and assigns packed aligned offsets in the given order. */
export function placeTensors(path: string, tensors: readonly GgufTensorSpec[], alignment: number): PlacedTensor[] {
  const seen = new Set<string>();
  const placed: PlacedTensor[] = [];
  let offset = 0;
  for (const t of tensors) {
    const nameBytes = Buffer.byteLength(t.name, 'utf8');
    if (nameBytes === 0 || nameBytes > GGUF_MAX_NAME_BYTES) throw bad(path, `tensor name "${t.name}" is ${nameBytes} bytes (1..${GGUF_MAX_NAME_BYTES} allowed)`, t.name);
    if (seen.has(t.name)) throw bad(path, `tensor "${t.name}" declared twice`, t.name);
    seen.add(t.name);
    if (t.ne.length < 1 || t.ne.length > GGML_MAX_DIMS) throw bad(path, `tensor "${t.name}" has ${t.ne.length} dims (1..${GGML_MAX_DIMS} allowed)`, t.name);
    if (!t.ne.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(path, `tensor "${t.name}" has invalid dims [${t.ne.join(', ')}]`, t.name);
    if (!isKnownGgmlType(t.type)) throw bad(path, `tensor "${t.name}" has unknown ggml type ${t.type}`, t.name);
    const bs = blockSizeOf(t.type);
    if (t.ne[0]! % bs !== 0) throw bad(path, `tensor "${t.name}": row length ${t.ne[0]} is not a multiple of the ${ggmlTypeName(t.type)} block size ${bs}`, t.name);
    const nbytes = tensorBytes(t.type, t.ne);
    placed.push({ ...t, ne: [...t.ne], offset, nbytes });
    offset += alignUp(nbytes, alignment);
  }
  return placed;
}

/** Encodes everything before the data section: header, metadata, tensor infos, padding. */
export function encodeHeader(md: GgufMetadata, tensors: readonly PlacedTensor[], alignment: number): Buffer {
  const kv = encodeMetadata(md);
  let infoBytes = 0;
  for (const t of tensors) infoBytes += 8 + Buffer.byteLength(t.name, 'utf8') + 4 + 8 * t.ne.length + 4 + 8;
  const unpadded = 4 + 4 + 8 + 8 + kv.byteLength + infoBytes;
  const w = new ByteWriter(alignUp(unpadded, alignment));
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.i64(tensors.length);
  w.i64(md.size);
  kv.copy(w.buf, w.pos);
  w.pos += kv.byteLength;
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.i64(d);
    w.u32(t.type);
    w.u64(t.offset);
  }
  return w.buf; // zero padding up to the aligned start of the data section
}

function writeAllAt(fd: number, b: Uint8Array, position: number): void {
  let off = 0;
  while (off < b.byteLength) {
    off += writeSync(fd, b, off, Math.min(1 << 30, b.byteLength - off), position + off);
  }
}

/**
 * Writes one GGUF file. The header goes out at creation; tensor data is written at its offset,
 * whole (writeTensor) or in consecutive pieces (writeTensorPart); padding is zeros.
 */
export class GgufWriter {
  readonly path: string;
  readonly alignment: number;
  readonly tensors: readonly PlacedTensor[];
  readonly dataOffset: number;
  readonly fileSize: number;
  private readonly byName = new Map<string, PlacedTensor>();
  private readonly written = new Map<string, number>();
  private fd: number | null;

  constructor(path: string, metadata: GgufMetadata, tensors: readonly GgufTensorSpec[]) {
    this.path = path;
    this.alignment = alignmentOf(metadata, path);
    this.tensors = placeTensors(path, tensors, this.alignment);
    for (const t of this.tensors) this.byName.set(t.name, t);
    const header = encodeHeader(metadata, this.tensors, this.alignment);
    this.dataOffset = header.byteLength;
    const last = this.tensors[this.tensors.length - 1];
    this.fileSize = this.dataOffset + (last ? last.offset + alignUp(last.nbytes, this.alignment) : 0);
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new AutoRoundError('E_OUTPUT', `${path}: cannot create GGUF file (${(e as Error).message})`, { subject: path, cause: e });
    }
    const fd = this.fd;
    try {
      // a failed write (a full disk, a quota, an I/O error) is an error naming this file
      writing(path, () => {
        writeAllAt(fd, header, 0);
        // the file takes its final size now: padding between and after tensors reads as zeros
        ftruncateSync(fd, this.fileSize);
      });
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  info(name: string): PlacedTensor {
    const t = this.byName.get(name);
    if (!t) throw bad(this.path, `tensor "${name}" was not declared`, name);
    return t;
  }

  /** Writes a tensor's complete data. */
  writeTensor(name: string, bytes: Uint8Array): void {
    const t = this.info(name);
    if (bytes.byteLength !== t.nbytes) throw bad(this.path, `tensor "${name}" (${ggmlTypeName(t.type)} [${t.ne.join(', ')}]) needs ${t.nbytes} bytes, got ${bytes.byteLength}`, name);
    if ((this.written.get(name) ?? 0) > 0) throw bad(this.path, `tensor "${name}" written twice`, name);
    this.writeAt(t, 0, bytes);
  }

  /** Writes the next piece of a tensor's data (pieces arrive in order; e.g. a few rows at a time). */
  writeTensorPart(name: string, bytes: Uint8Array): void {
    const t = this.info(name);
    const done = this.written.get(name) ?? 0;
    if (done + bytes.byteLength > t.nbytes) throw bad(this.path, `tensor "${name}" gets more than its ${t.nbytes} bytes`, name);
    this.writeAt(t, done, bytes);
  }

  private writeAt(t: PlacedTensor, within: number, bytes: Uint8Array): void {
    const fd = this.fd;
    if (fd === null) throw bad(this.path, 'writer is closed');
    try {
      writing(this.path, () => writeAllAt(fd, bytes, this.dataOffset + t.offset + within));
    } catch (e) {
      // nothing stays open after a failed write: an open descriptor of a deleted file keeps its space taken
      this.abort();
      throw e;
    }
    this.written.set(t.name, within + bytes.byteLength);
  }

  /** Names of declared tensors whose data is not (completely) written yet. */
  missing(): string[] {
    return this.tensors.filter((t) => (this.written.get(t.name) ?? 0) !== t.nbytes).map((t) => t.name);
  }

  /** Checks every tensor is complete and closes the file. */
  close(): void {
    if (this.fd === null) return;
    const missing = this.missing();
    if (missing.length > 0) {
      this.abort();
      throw bad(this.path, `${missing.length} tensor(s) never written: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
    }
    closeSync(this.fd);
    this.fd = null;
  }

  /** Closes and deletes the partial file. */
  abort(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
    rmSync(this.path, { force: true });
  }
}
