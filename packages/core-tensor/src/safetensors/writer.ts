import { closeSync, openSync, readSync, renameSync, writeSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type DType, DTYPE_BYTES, bytesOf, numelOf } from '../dtype.js';
import { AutoRoundError, writing } from '../errors.js';
import type { Tensor } from '../tensor.js';

export interface ShardedWriterOptions {
  /** Largest shard in bytes (tensor data); a single larger tensor gets a shard of its own. */
  maxShardBytes?: number;
  /** File name stem: "model" gives model.safetensors or model-00001-of-0000N.safetensors. */
  prefix?: string;
  /** Written as the `__metadata__` of every shard. transformers wants format "pt". */
  metadata?: Record<string, string>;
}

/** What a header needs to know of one tensor. */
export interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: readonly number[];
  byteLength: number;
}

/** Parses "5GB", "500MB", "10KiB" or a number of bytes. */
export function parseByteSize(s: string | number): number {
  if (typeof s === 'number') return s;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*$/i.exec(s);
  if (!m) throw new AutoRoundError('E_BAD_FLAG', `cannot read "${s}" as a size (expected e.g. 5GB, 500MB, 1048576)`, { subject: s });
  const unit = m[2]!.toUpperCase();
  const base = m[3] ? 1024 : 1000;
  const pow = unit === '' ? 0 : 'KMGT'.indexOf(unit) + 1;
  return Math.floor(Number(m[1]) * base ** pow);
}

/** Encodes one safetensors file image from tensors (header then data). */
export function encodeSafetensorsHeader(tensors: readonly HeaderEntry[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.byteLength] };
    off += t.byteLength;
  }
  let json = JSON.stringify(header);
  // pad with spaces so the data starts 8-byte aligned, as the reference writer does
  const pad = (8 - ((Buffer.byteLength(json) + 8) % 8)) % 8;
  json += ' '.repeat(pad);
  const hb = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hb.length);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  return out;
}

/**
 * Writes tensors as they come, cutting shards at `maxShardBytes`, and holds no tensor data in
 * memory: each tensor's bytes go to the shard's data file as they arrive; when the shard is
 * complete its header is written and the data copied behind it (from the page cache). Memory
 * stays at one 16 MiB copy buffer whatever the shard size, at the cost of writing each shard
 * twice, so an export holds one layer at a time, not one output shard. Shards get their final
 * HF names (model-0000k-of-0000N) at `close()`, when N is known, with model.safetensors.index.json.
 */
export class ShardedSafetensorsWriter {
  readonly dir: string;
  private readonly maxShardBytes: number;
  private readonly prefix: string;
  private readonly metadata: Record<string, string>;
  private readonly shards: { tmp: string; names: string[] }[] = [];
  private readonly seen = new Set<string>();
  private entries: Entry[] = [];
  private dataFd: number | undefined;
  private dataPath = '';
  private dataBytes = 0;
  private totalSize = 0;
  private closed = false;

  constructor(dir: string, options: ShardedWriterOptions = {}) {
    this.dir = dir;
    this.maxShardBytes = options.maxShardBytes ?? 5_000_000_000;
    this.prefix = options.prefix ?? 'model';
    this.metadata = options.metadata ?? { format: 'pt' };
  }

  add(name: string, dtype: DType, shape: readonly number[], data: ArrayBufferView): void {
    if (this.closed) throw new Error('ShardedSafetensorsWriter: add after close');
    if (this.seen.has(name)) throw new AutoRoundError('E_DUPLICATE', `tensor "${name}" written twice`, { subject: name });
    const bytes = bytesOf(data);
    const want = numelOf(shape) * DTYPE_BYTES[dtype];
    if (bytes.byteLength !== want) {
      throw new AutoRoundError('E_SHAPE', `tensor "${name}": ${dtype}[${shape.join(', ')}] needs ${want} bytes, got ${bytes.byteLength}`, { subject: name });
    }
    this.seen.add(name);
    try {
      if (this.entries.length > 0 && this.dataBytes + bytes.byteLength > this.maxShardBytes) this.flush();
      if (this.dataFd === undefined) {
        this.dataPath = join(this.dir, `.${this.prefix}-shard-${this.shards.length + 1}.data.partial`);
        this.dataFd = openSync(this.dataPath, 'w');
      }
      writeAll(this.dataFd, bytes, this.dataPath);
    } catch (e) {
      // nothing stays open after a failed write: an open descriptor of a deleted partial file keeps
      // its space taken (on a disk that is already full) for as long as the host process lives
      this.abort();
      throw e;
    }
    this.entries.push({ name, dtype, shape: [...shape], begin: this.dataBytes, end: this.dataBytes + bytes.byteLength });
    this.dataBytes += bytes.byteLength;
    this.totalSize += bytes.byteLength;
  }

  addTensor(name: string, t: Tensor): void {
    this.add(name, t.dtype, t.shape, t.data);
  }

  /** Header + data of the current shard into its (still hidden) shard file. */
  private flush(): void {
    if (this.dataFd === undefined) return;
    closeSync(this.dataFd);
    this.dataFd = undefined;
    const tmp = join(this.dir, `.${this.prefix}-shard-${this.shards.length + 1}.safetensors.partial`);
    const out = openSync(tmp, 'w');
    try {
      writeAll(out, encodeSafetensorsHeader(this.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, byteLength: e.end - e.begin })), this.metadata), tmp);
      const src = openSync(this.dataPath, 'r');
      try {
        const buf = new Uint8Array(Math.min(COPY_CHUNK, Math.max(1, this.dataBytes)));
        for (let pos = 0; pos < this.dataBytes; ) {
          const n = readSync(src, buf, 0, Math.min(buf.byteLength, this.dataBytes - pos), pos);
          if (n <= 0) throw new Error(`${this.dataPath} ends at byte ${pos} of ${this.dataBytes}`);
          writeAll(out, buf.subarray(0, n), tmp);
          pos += n;
        }
      } finally {
        closeSync(src);
      }
    } finally {
      closeSync(out);
    }
    rmSync(this.dataPath, { force: true });
    this.shards.push({ tmp, names: this.entries.map((e) => e.name) });
    this.entries = [];
    this.dataBytes = 0;
  }

  /** Finishes the last shard, gives shards their final names, writes the index if sharded. Returns file names. */
  close(): string[] {
    if (this.closed) throw new Error('ShardedSafetensorsWriter: closed twice');
    try {
      this.flush();
    } catch (e) {
      this.abort();
      throw e;
    }
    this.closed = true;
    const n = this.shards.length;
    if (n === 0) return [];
    const files: string[] = [];
    const weightMap: Record<string, string> = {};
    this.shards.forEach((s, k) => {
      const file = n === 1 ? `${this.prefix}.safetensors` : `${this.prefix}-${pad5(k + 1)}-of-${pad5(n)}.safetensors`;
      renameSync(s.tmp, join(this.dir, file));
      files.push(file);
      for (const name of s.names) weightMap[name] = file;
    });
    if (n > 1) {
      const sorted = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]]));
      const index = join(this.dir, `${this.prefix}.safetensors.index.json`);
      const text = JSON.stringify({ metadata: { total_size: this.totalSize }, weight_map: sorted }, null, 2) + '\n';
      writing(index, () => writeFileSync(index, text));
      files.push(`${this.prefix}.safetensors.index.json`);
    }
    return files;
  }

  /** Removes whatever was written so far (used when a run fails). */
  abort(): void {
    this.closed = true;
    if (this.dataFd !== undefined) closeSync(this.dataFd);
    this.dataFd = undefined;
    rmSync(this.dataPath, { force: true });
    for (const s of this.shards) rmSync(s.tmp, { force: true });
  }
}


interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

const COPY_CHUNK = 16 << 20;

function pad5(k: number): string {
  return String(k).padStart(5, '0');
}

/** Writes all of `b`; a failed write (a full disk, a quota, an I/O error) is an error naming `path`. */
function writeAll(fd: number, b: Uint8Array, path: string): void {
  writing(path, () => {
    for (let off = 0; off < b.byteLength; ) off += writeSync(fd, b, off, Math.min(1 << 30, b.byteLength - off));
  });
}
