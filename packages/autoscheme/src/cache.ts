// The on-disk cache of delta-loss scores (docs/autoscheme.md#cache): one JSON file per (model, option, data,
// fixed layers) key, a SHA-256 of everything the scores depend on; written atomically.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The default cache folder: $XDG_CACHE_HOME/autoround/autoscheme, else ~/.cache/autoround/autoscheme. */
export function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'autoround', 'autoscheme');
}

/** A stable digest of the model folder's weights (file names, sizes, modification times) and config. */
export function modelDigest(dir: string, files: readonly string[]): string {
  const h = createHash('sha256');
  for (const f of [...files, 'config.json'].sort()) {
    const st = statSync(join(dir, f));
    h.update(`${f}\0${st.size}\0${st.mtimeMs}\0`);
  }
  h.update(readFileSync(join(dir, 'config.json')));
  return h.digest('hex');
}

export function tokensDigest(samples: readonly Int32Array[]): string {
  const h = createHash('sha256');
  for (const s of samples) h.update(new Uint8Array(s.buffer, s.byteOffset, s.byteLength)).update('\0');
  return h.digest('hex');
}

export function cacheKey(parts: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export interface CachedScores {
  readonly loss: number;
  readonly scores: Record<string, number>;
}

export function readCache(dir: string, key: string): CachedScores | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dir, `${key}.json`), 'utf8')) as Partial<CachedScores>;
    if (typeof v.loss === 'number' && v.scores && typeof v.scores === 'object') return v as CachedScores;
  } catch {
    // absent or unreadable: scored again
  }
  return undefined;
}

export function writeCache(dir: string, key: string, value: CachedScores): void {
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${key}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(value) + '\n');
  renameSync(tmp, join(dir, `${key}.json`));
}
