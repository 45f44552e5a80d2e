import { closeSync, openSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AutoRoundError, type DType, DTYPE_BYTES, bytesOf, numelOf } from '@autoround/core-tensor';

export interface StreamingShardWriterOptions {
  /** Largest shard in bytes of tensor data; a single larger tensor gets a shard of its own. */
  maxShardBytes?: number;
  /** File name stem: "model" gives model.safetensors or model-00001-of-0000N.safetensors. */
  prefix?: string;
  /** The `__metadata__` of every shard (transformers wants format "pt"). */
  metadata?: Record<string, string>;
}

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

const COPY_CHUNK = 16 << 20;

/**
 * Writes safetensors shards with the same names, cuts and index as core-tensor's
 * ShardedSafetensorsWriter, but holds no tensor data in memory: each tensor's bytes go to the
 * shard's data file as they arrive, and when the shard is complete its header is written and the
 * data copied behind it (from the page cache). Memory stays at one 16 MiB copy buffer whatever
 * the shard size, at the cost of writing each shard twice; the exporters of this package use it
 * so that an export holds one layer at a time, not one output shard.
 */
export class StreamingShardWriter {
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

  constructor(dir: string, options: StreamingShardWriterOptions = {}) {
    this.dir = dir;
    this.maxShardBytes = options.maxShardBytes ?? 5_000_000_000;
    this.prefix = options.prefix ?? 'model';
    this.metadata = options.metadata ?? { format: 'pt' };
  }

  add(name: string, dtype: DType, shape: readonly number[], data: ArrayBufferView): void {
    if (this.closed) throw new Error('StreamingShardWriter: add after close');
    if (this.seen.has(name)) throw new AutoRoundError('E_DUPLICATE', `tensor "${name}" written twice`, { subject: name });
    const bytes = bytesOf(data);
    const want = numelOf(shape) * DTYPE_BYTES[dtype];
    if (bytes.byteLength !== want) {
      throw new AutoRoundError('E_SHAPE', `tensor "${name}": ${dtype}[${shape.join(', ')}] needs ${want} bytes, got ${bytes.byteLength}`, { subject: name });
    }
    this.seen.add(name);
    if (this.entries.length > 0 && this.dataBytes + bytes.byteLength > this.maxShardBytes) this.flush();
    if (this.dataFd === undefined) {
      this.dataPath = join(this.dir, `.${this.prefix}-shard-${this.shards.length + 1}.data.partial`);
      this.dataFd = openSync(this.dataPath, 'w');
    }
    writeAll(this.dataFd, bytes);
    this.entries.push({ name, dtype, shape: [...shape], begin: this.dataBytes, end: this.dataBytes + bytes.byteLength });
    this.dataBytes += bytes.byteLength;
    this.totalSize += bytes.byteLength;
  }

  /** Header + data of the current shard into its (still hidden) shard file. */
  private flush(): void {
    if (this.dataFd === undefined) return;
    closeSync(this.dataFd);
    this.dataFd = undefined;
    const tmp = join(this.dir, `.${this.prefix}-shard-${this.shards.length + 1}.safetensors.partial`);
    const out = openSync(tmp, 'w');
    try {
      writeAll(out, encodeHeader(this.entries, this.metadata));
      const src = openSync(this.dataPath, 'r');
      try {
        const buf = new Uint8Array(Math.min(COPY_CHUNK, Math.max(1, this.dataBytes)));
        for (let pos = 0; pos < this.dataBytes; ) {
          const n = readSync(src, buf, 0, Math.min(buf.byteLength, this.dataBytes - pos), pos);
          if (n <= 0) throw new Error(`${this.dataPath} ends at byte ${pos} of ${this.dataBytes}`);
          writeAll(out, buf.subarray(0, n));
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
    if (this.closed) throw new Error('StreamingShardWriter: closed twice');
    this.flush();
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
      writeFileSync(join(this.dir, `${this.prefix}.safetensors.index.json`), JSON.stringify({ metadata: { total_size: this.totalSize }, weight_map: sorted }, null, 2) + '\n');
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

/** The safetensors header (8-byte length + JSON, space-padded so the data starts 8-byte aligned). */
function encodeHeader(entries: readonly Entry[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  for (const e of entries) header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const hb = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hb.length);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  return out;
}

function pad5(k: number): string {
  return String(k).padStart(5, '0');
}

function writeAll(fd: number, b: Uint8Array): void {
  for (let off = 0; off < b.byteLength; ) off += writeSync(fd, b, off, Math.min(1 << 30, b.byteLength - off));
}
