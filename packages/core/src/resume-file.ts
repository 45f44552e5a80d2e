// The binary file format of resumable runs (docs/resume.md): a JSON header that describes a value
// tree, the raw bytes of its typed arrays, and a SHA-256 over both, written atomically (temp file,
// fsync, rename, fsync of the folder) so that a file is either whole or absent after a crash.

import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { AutoRoundError } from '@autoround/core-tensor';

/** The typed arrays a checkpoint can hold (stored as their raw little-endian bytes). */
export type CheckpointArray = Float32Array | Float64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

/**
 * A value an algorithm can checkpoint (AlgorithmPlugin.resumable): JSON-like data whose leaves may be
 * typed arrays, undefined, NaN, ±Infinity or −0; it reads back equal in every bit. Two references to
 * one array read back as two arrays.
 */
export type CheckpointValue = undefined | null | boolean | number | string | CheckpointArray | readonly CheckpointValue[] | { readonly [key: string]: CheckpointValue };

const MAGIC = 'ARRESUM1';
const ARRAYS = { Float32Array, Float64Array, Int32Array, Uint32Array, Int16Array, Uint16Array, Int8Array, Uint8Array } as const;
type ArrayName = keyof typeof ARRAYS;
const ALIGN = 8;

interface BufferEntry {
  type: ArrayName;
  offset: number;
  length: number;
}

interface Header {
  meta: unknown;
  value: unknown;
  buffers: BufferEntry[];
}

function arrayName(v: object): ArrayName | undefined {
  for (const k of Object.keys(ARRAYS) as ArrayName[]) if (v instanceof ARRAYS[k]) return k;
  return undefined;
}

/** The value tree as JSON: arrays become {"$": "b", "i": k}, the values JSON lacks {"$": "u" | "n", …}, objects holding a "$" key {"$": "o", "v": …}. */
function encode(v: unknown, arrays: CheckpointArray[], where: string): unknown {
  if (v === undefined) return { $: 'u' };
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0) ? v : { $: 'n', v: Object.is(v, -0) ? '-0' : String(v) };
  if (typeof v === 'object') {
    if (ArrayBuffer.isView(v)) {
      if (!arrayName(v)) throw new Error(`checkpoint: ${where} is a ${v.constructor.name}, which a checkpoint cannot hold`);
      arrays.push(v as CheckpointArray);
      return { $: 'b', i: arrays.length - 1 };
    }
    if (Array.isArray(v)) return v.map((x, i) => encode(x, arrays, `${where}[${i}]`));
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new Error(`checkpoint: ${where} is a ${(v as object).constructor?.name ?? 'class instance'}, which a checkpoint cannot hold (plain objects, arrays and typed arrays only)`);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = encode(x, arrays, `${where}.${k}`);
    return '$' in out ? { $: 'o', v: out } : out;
  }
  throw new Error(`checkpoint: ${where} is a ${typeof v}, which a checkpoint cannot hold`);
}

function damaged(path: string, why: string): AutoRoundError {
  return new AutoRoundError('E_RESUME', `resume state ${path} is damaged (${why}); run without --resume to start over`, { subject: path });
}

function decode(v: unknown, arrays: CheckpointArray[], path: string): CheckpointValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map((x) => decode(x, arrays, path));
  if (typeof v !== 'object') throw damaged(path, 'bad value in the header');
  const o = v as Record<string, unknown>;
  if ('$' in o) {
    if (o.$ === 'u') return undefined;
    if (o.$ === 'n') {
      const n = o.v === '-0' ? -0 : Number(o.v);
      if (typeof o.v !== 'string' || (Number.isFinite(n) && o.v !== '-0')) throw damaged(path, 'bad number in the header');
      return n;
    }
    if (o.$ === 'b') {
      const a = typeof o.i === 'number' ? arrays[o.i] : undefined;
      if (!a) throw damaged(path, 'a value names a buffer that does not exist');
      return a;
    }
    if (o.$ === 'o' && o.v && typeof o.v === 'object') return decodeObject(o.v as Record<string, unknown>, arrays, path);
    throw damaged(path, 'bad tag in the header');
  }
  return decodeObject(o, arrays, path);
}

function decodeObject(o: Record<string, unknown>, arrays: CheckpointArray[], path: string): CheckpointValue {
  const out: Record<string, CheckpointValue> = {};
  for (const [k, x] of Object.entries(o)) out[k] = decode(x, arrays, path);
  return out;
}

const pad = (n: number) => (ALIGN - (n % ALIGN)) % ALIGN;

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function readAll(fd: number, bytes: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < bytes.length) {
    const n = readSync(fd, bytes, done, bytes.length - done, position + done);
    if (n === 0) throw damaged(path, 'the file is shorter than its header says');
    done += n;
  }
}

const bytesOf = (a: CheckpointArray) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** fsync of a folder, so that a rename in it survives a power loss (not possible on every platform: then skipped). */
export function fsyncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* Windows cannot open a folder for fsync; the rename is as durable as the platform makes it */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes `meta` (plain JSON) and `value` to `path` atomically: a temporary file beside it, fsync,
 * rename over `path`, fsync of the folder. Returns the bytes written.
 *
 * Layout: "ARRESUM1", u32 LE header length, the header JSON ({meta, value, buffers: [{type, offset,
 * length}]}), zero padding to 8 bytes, each array's bytes at its offset (8-aligned), then the SHA-256
 * of the header bytes followed by every array's bytes.
 */
export function writeResumeFile(path: string, meta: unknown, value: CheckpointValue): number {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new AutoRoundError('E_UNSUPPORTED', 'resumable runs need a little-endian machine');
  const arrays: CheckpointArray[] = [];
  const encoded = encode(value, arrays, 'state');
  // offsets are relative to the end of the padded header, so the header does not depend on its own length
  const buffers: BufferEntry[] = [];
  let rel = 0;
  for (const a of arrays) {
    buffers.push({ type: arrayName(a)!, offset: rel, length: a.length });
    rel += a.byteLength + pad(a.byteLength);
  }
  const header = Buffer.from(JSON.stringify({ meta, value: encoded, buffers } satisfies Header), 'utf8');
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(header.length, 8);
  const base = 12 + header.length + pad(12 + header.length);
  const tmp = `${dirname(path)}/.${basename(path)}.tmp-${process.pid}`;
  const hash = createHash('sha256').update(header);
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, prefix, 0);
    writeAll(fd, header, 12);
    writeAll(fd, new Uint8Array(base - 12 - header.length), 12 + header.length);
    const zeros = new Uint8Array(ALIGN);
    arrays.forEach((a, k) => {
      const b = bytesOf(a);
      hash.update(b);
      writeAll(fd, b, base + buffers[k]!.offset);
      const p = pad(b.length);
      if (p) writeAll(fd, zeros.subarray(0, p), base + buffers[k]!.offset + b.length);
    });
    writeAll(fd, hash.digest(), base + rel);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw new AutoRoundError('E_OUTPUT', `cannot write resume state ${path}: ${(e as Error).message}`, { subject: path, cause: e });
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new AutoRoundError('E_OUTPUT', `cannot write resume state ${path}: ${(e as Error).message}`, { subject: path, cause: e });
  }
  fsyncFolder(dirname(path));
  return base + rel + 32;
}

/** Reads a file writeResumeFile wrote; a damaged or foreign file is an AutoRoundError naming it. */
export function readResumeFile(path: string): { meta: unknown; value: CheckpointValue; bytes: number } {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const prefix = new Uint8Array(12);
    if (size < 12 + 32) throw damaged(path, 'too short');
    readAll(fd, prefix, 0, path);
    if (Buffer.from(prefix.subarray(0, 8)).toString('latin1') !== MAGIC) throw damaged(path, 'not a resume state file of this version');
    const hlen = Buffer.from(prefix).readUInt32LE(8);
    if (12 + hlen + 32 > size) throw damaged(path, 'the header is longer than the file');
    const headerBytes = new Uint8Array(hlen);
    readAll(fd, headerBytes, 12, path);
    let header: Header;
    try {
      header = JSON.parse(Buffer.from(headerBytes).toString('utf8')) as Header;
    } catch {
      throw damaged(path, 'the header is not JSON');
    }
    if (!header || typeof header !== 'object' || !Array.isArray(header.buffers)) throw damaged(path, 'the header lacks its buffer list');
    const base = 12 + hlen + pad(12 + hlen);
    const hash = createHash('sha256').update(headerBytes);
    const arrays: CheckpointArray[] = [];
    let end = 0;
    for (const b of header.buffers) {
      const Ctor = typeof b?.type === 'string' && Object.hasOwn(ARRAYS, b.type) ? ARRAYS[b.type] : undefined;
      if (!Ctor || !Number.isSafeInteger(b.length) || b.length < 0 || b.offset !== end) throw damaged(path, 'bad buffer entry in the header');
      const a = new Ctor(b.length);
      if (base + b.offset + a.byteLength + 32 > size) throw damaged(path, 'a buffer runs past the end of the file');
      const bytes = bytesOf(a);
      readAll(fd, bytes, base + b.offset, path);
      hash.update(bytes);
      arrays.push(a);
      end = b.offset + a.byteLength + pad(a.byteLength);
    }
    if (base + end + 32 !== size) throw damaged(path, `the file is ${size} bytes, its header describes ${base + end + 32}`);
    const digest = new Uint8Array(32);
    readAll(fd, digest, base + end, path);
    if (!Buffer.from(digest).equals(hash.digest())) throw damaged(path, 'checksum mismatch');
    return { meta: header.meta, value: decode(header.value, arrays, path), bytes: size };
  } finally {
    closeSync(fd);
  }
}
