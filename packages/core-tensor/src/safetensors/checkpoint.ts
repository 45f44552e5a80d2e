import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoRoundError, describeSystemError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { SafetensorsFile, type TensorInfo } from './reader.js';

/**
 * A Hugging Face checkpoint folder: a single model.safetensors or shards listed by
 * model.safetensors.index.json. Shards are opened on first use; tensors are read lazily.
 */
export class Checkpoint {
  readonly dir: string;
  readonly shardFiles: readonly string[];
  private readonly where = new Map<string, string>();
  private readonly open = new Map<string, SafetensorsFile>();

  private constructor(dir: string, shardFiles: string[]) {
    this.dir = dir;
    this.shardFiles = shardFiles;
  }

  static open(dir: string): Checkpoint {
    const index = join(dir, 'model.safetensors.index.json');
    const single = join(dir, 'model.safetensors');
    if (existsSync(index)) {
      let parsed: { weight_map?: Record<string, string> };
      let text: string;
      try {
        text = readFileSync(index, 'utf8');
      } catch (e) {
        // a folder or an unreadable file is not "invalid JSON"
        throw new AutoRoundError('E_BAD_INDEX', `cannot read ${describeSystemError(e, index) ?? `${index}: ${(e as Error).message}`}`, { subject: index, cause: e });
      }
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch (e) {
        throw new AutoRoundError('E_BAD_INDEX', `${index}: not valid JSON (${(e as Error).message})`, { subject: index });
      }
      const wm = parsed.weight_map;
      if (!wm || typeof wm !== 'object' || Array.isArray(wm)) throw new AutoRoundError('E_BAD_INDEX', `${index}: no "weight_map" object`, { subject: index });
      // each value names a shard file of this folder (found by tools/fuzz: a number or null reached path.join)
      for (const [name, f] of Object.entries(wm as Record<string, unknown>)) {
        if (typeof f !== 'string' || f === '') {
          throw new AutoRoundError('E_BAD_INDEX', `${index}: weight_map["${name}"] is ${JSON.stringify(f)}, expected the file name of a shard in ${dir}`, { subject: index });
        }
      }
      const files = [...new Set(Object.values(wm))];
      for (const f of files) {
        if (!existsSync(join(dir, f))) throw new AutoRoundError('E_NOT_FOUND', `${index} names shard ${f}, which is missing from ${dir}`, { subject: f });
      }
      const ck = new Checkpoint(dir, files);
      for (const [name, file] of Object.entries(wm)) ck.where.set(name, file);
      // the index is a promise about each shard's contents: check it as shards open
      return ck;
    }
    if (existsSync(single)) {
      const ck = new Checkpoint(dir, ['model.safetensors']);
      const f = ck.file('model.safetensors');
      for (const name of f.names) ck.where.set(name, 'model.safetensors');
      return ck;
    }
    throw new AutoRoundError('E_NO_WEIGHTS', `${dir}: no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported)`, { subject: dir });
  }

  get names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  private file(shard: string): SafetensorsFile {
    let f = this.open.get(shard);
    if (!f) {
      // the GGUF exporter writes an index mapping every tensor to its .gguf file, for hosts that list
      // a folder's tensors; the data is GGUF, which only a GGUF reader can read
      if (/\.gguf$/i.test(shard)) {
        throw new AutoRoundError('E_GGUF_FOLDER', `${this.dir} is a GGUF folder (its tensors are in ${shard}), not a safetensors checkpoint: read it through a GGUF reader (auto-round eval does) or use the full-precision model it was made from`, { subject: join(this.dir, shard) });
      }
      f = SafetensorsFile.open(join(this.dir, shard));
      this.open.set(shard, f);
    }
    return f;
  }

  private locate(name: string): SafetensorsFile {
    const shard = this.where.get(name);
    if (!shard) throw new AutoRoundError('E_NO_TENSOR', `${this.dir}: the checkpoint has no tensor "${name}"`, { subject: name });
    const f = this.file(shard);
    if (!f.has(name)) {
      throw new AutoRoundError('E_BAD_INDEX', `${join(this.dir, shard)}: the index places "${name}" here but the shard lacks it`, { subject: name });
    }
    return f;
  }

  shardOf(name: string): string {
    const s = this.where.get(name);
    if (!s) throw new AutoRoundError('E_NO_TENSOR', `${this.dir}: the checkpoint has no tensor "${name}"`, { subject: name });
    return s;
  }

  info(name: string): TensorInfo {
    return this.locate(name).info(name);
  }

  read(name: string): Tensor {
    return this.locate(name).read(name);
  }

  readFloat32(name: string): Tensor<'F32'> {
    return this.locate(name).readFloat32(name);
  }

  readBytes(name: string, into?: Uint8Array): Uint8Array {
    return this.locate(name).readBytes(name, into);
  }

  /** Raw bytes of rows [r0, r1) of a tensor (SafetensorsFile.readRowBytes). */
  readRowBytes(name: string, r0: number, r1: number, into?: Uint8Array): Uint8Array {
    return this.locate(name).readRowBytes(name, r0, r1, into);
  }

  /**
   * Every tensor, shard by shard in file order, read into one reused buffer: each yielded
   * tensor is valid only until the next step (copy what you keep). Memory stays at the largest
   * tensor; shards are closed as soon as they are done.
   */
  *stream(): Generator<{ name: string; shard: string; tensor: Tensor }> {
    let arena = new Uint8Array(0);
    for (const [shard, names] of this.namesByShard()) {
      const f = this.file(shard);
      for (const name of names) {
        const info = f.info(name);
        const n = info.end - info.begin;
        if (arena.byteLength < n) arena = new Uint8Array(new ArrayBuffer(Math.max(n, Math.floor(arena.byteLength * 1.5))));
        const bytes = f.readBytes(name, arena);
        yield { name, shard, tensor: Tensor.fromBytes(info.dtype, info.shape, bytes) };
      }
      this.release(shard);
    }
  }

  /** Names grouped by shard in file order, for streaming one shard at a time. */
  namesByShard(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const s of this.shardFiles) m.set(s, []);
    for (const [n, s] of this.where) m.get(s)!.push(n);
    for (const [s, names] of m) {
      const f = this.file(s);
      names.sort((a, b) => f.info(a).begin - f.info(b).begin);
    }
    return m;
  }

  /** Closes one shard's file handle (streaming readers free shards as they go). */
  release(shard: string): void {
    this.open.get(shard)?.close();
    this.open.delete(shard);
  }

  close(): void {
    for (const f of this.open.values()) f.close();
    this.open.clear();
  }
}
