import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, statSync, unlinkSync, writeFileSync, copyFileSync, symlinkSync, openSync, closeSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { processAlive } from '@autoround/core';
import type { HubConfig, RepoType } from './options.js';
import { sleep } from './http.js';

/**
 * The Hugging Face cache layout:
 *   $HF_HUB_CACHE/models--org--name/blobs/<etag>             file contents, named by git sha1 or LFS sha256
 *   $HF_HUB_CACHE/models--org--name/snapshots/<commit>/<path> relative symlink to ../../blobs/<etag>
 *   $HF_HUB_CACHE/models--org--name/refs/<revision>          the commit a branch or tag pointed at
 * Datasets live under datasets--org--name. Files of our own (locks, verification stamps) go under
 * $HF_HUB_CACHE/.locks/<repo folder>/, which Hugging Face tools skip.
 */
export function repoFolderName(repoId: string, repoType: RepoType): string {
  return `${repoType}s--${repoId.split('/').join('--')}`;
}

export function repoCacheDir(cfg: Pick<HubConfig, 'cacheDir'>, repoId: string, repoType: RepoType): string {
  return join(cfg.cacheDir, repoFolderName(repoId, repoType));
}

export function isCommitHash(s: string): boolean {
  return /^[0-9a-f]{40}$/.test(s);
}

export function readRef(repoDir: string, revision: string): string | undefined {
  if (isCommitHash(revision)) return revision;
  try {
    const c = readFileSync(join(repoDir, 'refs', revision), 'utf8').trim();
    return isCommitHash(c) ? c : undefined;
  } catch {
    return undefined;
  }
}

export function writeRef(repoDir: string, revision: string, commit: string): void {
  if (isCommitHash(revision) || readRef(repoDir, revision) === commit) return;
  const p = join(repoDir, 'refs', revision);
  mkdirSync(dirname(p), { recursive: true });
  const tmp = `${p}.${process.pid}.tmp`;
  writeFileSync(tmp, commit);
  renameSync(tmp, p);
}

export function snapshotDir(repoDir: string, commit: string): string {
  return join(repoDir, 'snapshots', commit);
}

export function blobPath(repoDir: string, etag: string): string {
  return join(repoDir, 'blobs', etag);
}

/** Relative paths of every file under a snapshot folder (symlinks included), sorted. */
export function listSnapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(d, e.name), rel);
      else out.push(rel);
    }
  };
  if (existsSync(dir)) walk(dir, '');
  return out.sort();
}

/** The etag a snapshot entry points at (its blob's name), when it is a symlink into blobs/. */
export function pointerEtag(pointer: string): string | undefined {
  try {
    if (!lstatSync(pointer).isSymbolicLink()) return undefined;
    return basename(readlinkSync(pointer));
  } catch {
    return undefined;
  }
}

/** Points snapshots/<commit>/<path> at the blob (relative symlink; a copy where symlinks are not allowed). */
export function linkSnapshot(pointer: string, blob: string): void {
  mkdirSync(dirname(pointer), { recursive: true });
  const target = relative(dirname(pointer), blob);
  try {
    const st = lstatSync(pointer);
    if (st.isSymbolicLink() && readlinkSync(pointer) === target) return;
    unlinkSync(pointer);
  } catch {
    /* absent */
  }
  try {
    symlinkSync(target, pointer);
  } catch {
    copyFileSync(blob, pointer);
  }
}

export type Digest = { algo: 'sha256'; hex: string } | { algo: 'git-sha1'; hex: string };

/** What an etag promises about the content: LFS files are named by sha256, regular files by their git blob sha1. */
export function digestOf(etag: string): Digest | undefined {
  if (/^[0-9a-f]{64}$/.test(etag)) return { algo: 'sha256', hex: etag };
  if (/^[0-9a-f]{40}$/.test(etag)) return { algo: 'git-sha1', hex: etag };
  return undefined;
}

export async function hashFile(path: string, algo: Digest['algo'], prefixBytes?: number): Promise<string> {
  const h = createHash(algo === 'sha256' ? 'sha256' : 'sha1');
  if (algo === 'git-sha1') h.update(`blob ${statSync(path).size}\0`);
  const stream = createReadStream(path, prefixBytes !== undefined ? { end: prefixBytes - 1 } : {});
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

function stampPath(cfg: Pick<HubConfig, 'cacheDir'>, repoDir: string, etag: string): string {
  return join(cfg.cacheDir, '.locks', basename(repoDir), `${etag}.verified`);
}

export function writeStamp(cfg: Pick<HubConfig, 'cacheDir'>, repoDir: string, etag: string, blob: string): void {
  try {
    const st = statSync(blob);
    const p = stampPath(cfg, repoDir, etag);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, JSON.stringify({ size: st.size, mtimeMs: st.mtimeMs }));
  } catch {
    /* a missing stamp only costs a re-hash later */
  }
}

function stampMatches(cfg: Pick<HubConfig, 'cacheDir'>, repoDir: string, etag: string, size: number, mtimeMs: number): boolean {
  try {
    const s = JSON.parse(readFileSync(stampPath(cfg, repoDir, etag), 'utf8')) as { size: number; mtimeMs: number };
    return s.size === size && s.mtimeMs === mtimeMs;
  } catch {
    return false;
  }
}

export type BlobState = 'ok' | 'missing' | 'corrupt';

/**
 * Checks a cached blob against its etag (and the size the hub announced, when known). A checksum is
 * computed when `verify` is 'full' or when the blob changed since it was last verified.
 */
export async function checkBlob(cfg: Pick<HubConfig, 'cacheDir' | 'verify'>, repoDir: string, etag: string, expectedSize?: number): Promise<BlobState> {
  const blob = blobPath(repoDir, etag);
  let st;
  try {
    st = statSync(blob);
  } catch {
    return 'missing';
  }
  if (!st.isFile()) return 'corrupt';
  if (expectedSize !== undefined && st.size !== expectedSize) return 'corrupt';
  const d = digestOf(etag);
  if (!d) return 'ok';
  if (cfg.verify !== 'full' && stampMatches(cfg, repoDir, etag, st.size, st.mtimeMs)) return 'ok';
  const got = await hashFile(blob, d.algo);
  if (got !== d.hex) return 'corrupt';
  writeStamp(cfg, repoDir, etag, blob);
  return 'ok';
}

/**
 * A cross-process lock: a file created exclusively, holding our pid. A lock whose owner is gone, or
 * that has not been touched for `staleMs`, is taken over.
 */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>, staleMs = 10 * 60_000): Promise<T> {
  mkdirSync(dirname(lockPath), { recursive: true });
  for (;;) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let stale = false;
      try {
        const pid = Number(readFileSync(lockPath, 'utf8'));
        const age = Date.now() - statSync(lockPath).mtimeMs;
        stale = age > staleMs || !Number.isInteger(pid) || pid <= 0 || !processAlive(pid);
      } catch {
        stale = true;
      }
      if (stale) {
        try {
          unlinkSync(lockPath);
        } catch {
          /* someone else took it */
        }
        continue;
      }
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(lockPath);
    } catch {
      /* already gone */
    }
  }
}


export function lockPath(cfg: Pick<HubConfig, 'cacheDir'>, repoDir: string, etag: string): string {
  return join(cfg.cacheDir, '.locks', basename(repoDir), `${etag}.lock`);
}
