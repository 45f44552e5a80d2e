import { createHash, type Hash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AutoRoundError } from '@autoround/core-tensor';
import {
  blobPath,
  checkBlob,
  digestOf,
  hashFile,
  isCommitHash,
  linkSnapshot,
  lockPath,
  pointerEtag,
  readRef,
  repoCacheDir,
  snapshotDir,
  withLock,
  writeRef,
  writeStamp,
} from './cache.js';
import {
  HubNetworkError,
  describeNetworkError,
  fetchWithTimeout,
  headersFor,
  hubHttpError,
  isRetriableStatus,
  requestWithRetries,
  resolveUrl,
  sleep,
  type RequestSubject,
} from './http.js';
import { checkRepoId, checkRepoPath, hubConfig, type HubConfig, type HubOptions, type RepoType } from './options.js';
import { ByteProgress, mb } from './progress.js';

export interface FileRequest extends HubOptions {
  repoId: string;
  repoType?: RepoType;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** Path inside the repository. */
  filename: string;
}

/** What a HEAD on a resolve URL says about a file. */
export interface FileMetadata {
  commit: string | undefined;
  /** X-Linked-Etag (LFS: the sha256) or ETag (regular files: the git blob sha1), unquoted. */
  etag: string;
  /** X-Linked-Size or Content-Length. */
  size: number | undefined;
  /** Where the bytes are: the CDN location of a redirect, or the resolve URL itself. */
  location: string;
}

export function normalizeEtag(v: string | null): string | undefined {
  if (!v) return undefined;
  return v.replace(/^W\//, '').replace(/^"(.*)"$/, '$1') || undefined;
}

/** HEAD the resolve URL, following only relative redirects (renamed repos), as huggingface_hub does. */
export async function fileMetadata(cfg: HubConfig, url: string, s: RequestSubject): Promise<FileMetadata> {
  let current = url;
  for (let hops = 0; hops < 10; hops++) {
    const res = await requestWithRetries(cfg, current, s, () =>
      fetchWithTimeout(current, { method: 'HEAD', redirect: 'manual', headers: headersFor(cfg, current, { 'accept-encoding': 'identity' }) }, cfg.metadataTimeoutMs),
    );
    const loc = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && loc && !/^[a-z][a-z0-9+.-]*:\/\//i.test(loc)) {
      current = new URL(loc, current).toString();
      continue;
    }
    if (res.status >= 400) throw hubHttpError(res, current, s, cfg);
    const etag = normalizeEtag(res.headers.get('x-linked-etag')) ?? normalizeEtag(res.headers.get('etag'));
    if (!etag) {
      throw new AutoRoundError('E_HUB_HTTP', `${current} gave no ETag: is HF_ENDPOINT (${cfg.endpoint}) a Hugging Face hub?`, { subject: s.repoId });
    }
    const sizeHeader = res.headers.get('x-linked-size') ?? res.headers.get('content-length');
    const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
    const location = res.status >= 300 && res.status < 400 && loc ? new URL(loc, current).toString() : current;
    return { commit: res.headers.get('x-repo-commit') ?? undefined, etag, size, location };
  }
  throw new AutoRoundError('E_HUB_HTTP', `too many redirects from ${url}`, { subject: s.repoId });
}

/** A cached copy of the file for `revision`, or undefined. */
export function cachedFile(cfg: HubConfig, repoId: string, repoType: RepoType, revision: string, filename: string): string | undefined {
  const repoDir = repoCacheDir(cfg, repoId, repoType);
  const commit = readRef(repoDir, revision);
  if (!commit) return undefined;
  const p = join(snapshotDir(repoDir, commit), filename);
  return existsSync(p) ? p : undefined;
}

function notCachedMessage(cfg: HubConfig, s: RequestSubject, why: string): string {
  const kind = s.repoType === 'dataset' ? 'dataset' : 'model';
  const thing = s.filename ? `file "${s.filename}" of ${kind} "${s.repoId}"` : `${kind} "${s.repoId}"`;
  return `${why}, and ${thing} (revision "${s.revision ?? 'main'}") is not in the cache at ${cfg.cacheDir}`;
}

export function offlineError(cfg: HubConfig, s: RequestSubject): AutoRoundError {
  return new AutoRoundError(
    'E_HUB_OFFLINE',
    notCachedMessage(cfg, s, 'HF_HUB_OFFLINE is set') + ': unset HF_HUB_OFFLINE to download it, or use a local copy',
    { subject: s.filename ? `${s.repoId}/${s.filename}` : s.repoId },
  );
}

export function networkError(cfg: HubConfig, s: RequestSubject, e: HubNetworkError): AutoRoundError {
  return new AutoRoundError(
    'E_HUB_NETWORK',
    notCachedMessage(cfg, s, `${e.message}`) + `: check the network (or HF_ENDPOINT=${cfg.endpoint}), or use a local copy`,
    { subject: s.filename ? `${s.repoId}/${s.filename}` : s.repoId, cause: e },
  );
}

/**
 * Downloads one file of a hub repository into the cache (if it is not there, or is damaged) and
 * returns its path under snapshots/<commit>/. Works like huggingface_hub.hf_hub_download.
 */
export async function hfHubDownload(req: FileRequest): Promise<string> {
  const cfg = hubConfig(req);
  const repoType = req.repoType ?? 'model';
  const revision = req.revision ?? 'main';
  checkRepoId(req.repoId, repoType);
  checkRepoPath(req.filename, req.repoId);
  const s: RequestSubject = { repoId: req.repoId, repoType, revision, filename: req.filename };
  const repoDir = repoCacheDir(cfg, req.repoId, repoType);

  if (cfg.offline) {
    const p = cachedFile(cfg, req.repoId, repoType, revision, req.filename);
    if (p) return p;
    throw offlineError(cfg, s);
  }
  // A commit is immutable: a cached file that still checks out needs no request.
  if (isCommitHash(revision)) {
    const pointer = join(snapshotDir(repoDir, revision), req.filename);
    const etag = pointerEtag(pointer);
    if (etag && (await checkBlob(cfg, repoDir, etag)) === 'ok') return pointer;
  }
  let meta: FileMetadata;
  try {
    meta = await fileMetadata(cfg, resolveUrl(cfg, req.repoId, repoType, revision, req.filename), s);
  } catch (e) {
    if (!(e instanceof HubNetworkError)) throw e;
    const p = cachedFile(cfg, req.repoId, repoType, revision, req.filename);
    if (p) {
      cfg.log.warn(`${e.message}; using the cached ${req.repoId}/${req.filename}`);
      return p;
    }
    throw networkError(cfg, s, e);
  }
  const commit = meta.commit ?? (isCommitHash(revision) ? revision : undefined);
  if (!commit) {
    throw new AutoRoundError('E_HUB_HTTP', `${cfg.endpoint} gave no X-Repo-Commit for ${req.repoId}/${req.filename}: is HF_ENDPOINT a Hugging Face hub?`, {
      subject: req.repoId,
    });
  }
  writeRef(repoDir, revision, commit);
  const pointer = join(snapshotDir(repoDir, commit), req.filename);
  await ensureBlob(cfg, repoDir, meta, s);
  linkSnapshot(pointer, blobPath(repoDir, meta.etag));
  return pointer;
}

/** Makes blobs/<etag> present and intact, downloading (or resuming) under a lock. */
export async function ensureBlob(cfg: HubConfig, repoDir: string, meta: FileMetadata, s: RequestSubject): Promise<void> {
  const state = await checkBlob(cfg, repoDir, meta.etag, meta.size);
  if (state === 'ok') return;
  const blob = blobPath(repoDir, meta.etag);
  await withLock(lockPath(cfg, repoDir, meta.etag), async () => {
    // Another process may have finished it while we waited.
    const again = await checkBlob(cfg, repoDir, meta.etag, meta.size);
    if (again === 'ok') return;
    if (again === 'corrupt') {
      cfg.log.warn(`cached ${s.repoId}/${s.filename} (${blob}) does not match its checksum; downloading it again`);
      rmSync(blob, { force: true });
    }
    await downloadBlob(cfg, meta, blob, s);
  });
}

class Interrupted extends Error {}

interface HashState {
  hash: Hash | undefined;
}

/**
 * Streams meta.location into <blob>.incomplete, resuming with an HTTP Range from what an earlier
 * try left, then checks size and checksum and renames it into place.
 */
async function downloadBlob(cfg: HubConfig, meta: FileMetadata, blob: string, s: RequestSubject): Promise<void> {
  mkdirSync(dirname(blob), { recursive: true });
  const tmp = `${blob}.incomplete`;
  const digest = digestOf(meta.etag);
  const label = `downloading ${s.filename}`;
  const progress = new ByteProgress(label, meta.size, ByteProgress.shouldShow(cfg.progress, cfg.disableProgress));
  cfg.log.debug(`${label} (${meta.size !== undefined ? mb(meta.size) : 'size unknown'}) from ${meta.location}`);
  let restartsLeft = 1; // one fresh start after a checksum mismatch
  for (let attempt = 0; ; ) {
    let have = existsSync(tmp) ? statSync(tmp).size : 0;
    if (meta.size !== undefined && have > meta.size) {
      truncateSync(tmp, 0);
      have = 0;
    }
    const hs: HashState = { hash: digest?.algo === 'sha256' ? createHash('sha256') : undefined };
    if (hs.hash && have > 0) await hashPrefix(tmp, have, hs.hash);
    try {
      if (!(meta.size !== undefined && have === meta.size)) {
        if (have > 0) cfg.log.info(`resuming ${s.repoId}/${s.filename} at ${mb(have)}${meta.size !== undefined ? ` of ${mb(meta.size)}` : ''}`);
        have = await fetchInto(cfg, meta.location, tmp, have, hs, progress, s);
      }
    } catch (e) {
      if (!(e instanceof Interrupted || e instanceof HubNetworkError)) throw e;
      const got = existsSync(tmp) ? statSync(tmp).size : 0;
      if (attempt >= cfg.retries) {
        throw new AutoRoundError(
          'E_HUB_NETWORK',
          `download of ${s.repoId}/${s.filename} was interrupted at ${mb(got)}${meta.size !== undefined ? ` of ${mb(meta.size)}` : ''} (${e.message}); ` +
            `run again to resume from there`,
          { subject: `${s.repoId}/${s.filename}`, cause: e },
        );
      }
      const wait = cfg.retryDelayMs * 2 ** attempt;
      attempt++;
      cfg.log.warn(`download of ${s.repoId}/${s.filename} interrupted at ${mb(got)} (${e.message}); resuming in ${(wait / 1000).toFixed(1)}s`);
      await sleep(wait);
      continue;
    }
    progress.finish();
    const size = statSync(tmp).size;
    let bad: string | undefined;
    if (meta.size !== undefined && size !== meta.size) bad = `${size} bytes instead of ${meta.size}`;
    else if (digest) {
      const got = hs.hash ? hs.hash.digest('hex') : await hashFile(tmp, digest.algo);
      if (got !== digest.hex) bad = `${digest.algo === 'sha256' ? 'sha256' : 'git sha1'} ${got} instead of ${digest.hex}`;
    }
    if (bad) {
      rmSync(tmp, { force: true });
      if (restartsLeft-- > 0) {
        cfg.log.warn(`downloaded ${s.repoId}/${s.filename} is damaged (${bad}); downloading it again`);
        continue;
      }
      throw new AutoRoundError('E_HUB_CHECKSUM', `downloaded ${s.repoId}/${s.filename} does not match the hub's checksum (${bad}), twice`, {
        subject: `${s.repoId}/${s.filename}`,
      });
    }
    renameSync(tmp, blob);
    writeStamp(cfg, dirname(dirname(blob)), meta.etag, blob);
    return;
  }
}

async function hashPrefix(path: string, bytes: number, hash: Hash): Promise<void> {
  const { createReadStream } = await import('node:fs');
  for await (const chunk of createReadStream(path, { end: bytes - 1 })) hash.update(chunk as Buffer);
}

/** One GET from `have` on; appends to `tmp`. Returns the new length. Throws Interrupted on a cut. */
async function fetchInto(cfg: HubConfig, url: string, tmp: string, have: number, hs: HashState, progress: ByteProgress, s: RequestSubject): Promise<number> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctl.abort(new Error(`no data for ${cfg.downloadTimeoutMs / 1000}s`)), cfg.downloadTimeoutMs);
  };
  arm();
  const headers = headersFor(cfg, url, { 'accept-encoding': 'identity', ...(have > 0 ? { range: `bytes=${have}-` } : {}) });
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow', signal: ctl.signal });
  } catch (e) {
    clearTimeout(timer);
    throw new HubNetworkError(`cannot reach ${new URL(url).origin}: ${describeNetworkError(e)}`, url, { cause: e });
  }
  if (res.status === 416) {
    // Our partial file is not a prefix the server recognises: start over.
    clearTimeout(timer);
    await res.body?.cancel().catch(() => {});
    truncateSync(tmp, 0);
    throw new Interrupted('the server refused to resume (HTTP 416)');
  }
  if (!res.ok) {
    clearTimeout(timer);
    await res.body?.cancel().catch(() => {});
    if (isRetriableStatus(res.status)) throw new Interrupted(`HTTP ${res.status}`);
    throw hubHttpError(res, url, s, cfg);
  }
  let mode: 'a' | 'w' = 'a';
  if (have > 0) {
    const range = res.headers.get('content-range');
    const start = res.status === 206 && range ? Number(/bytes (\d+)-/.exec(range)?.[1]) : NaN;
    if (start !== have) {
      // The server sent the whole file (or another range): take it from the start.
      mode = 'w';
      have = 0;
      if (hs.hash) hs.hash = createHash('sha256');
    }
  }
  const fh = await open(tmp, mode);
  progress.set(have);
  try {
    if (!res.body) throw new Interrupted('empty body');
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      arm();
      await fh.write(chunk);
      hs.hash?.update(chunk);
      have += chunk.length;
      progress.add(chunk.length);
    }
  } catch (e) {
    if (e instanceof AutoRoundError) throw e;
    throw new Interrupted(describeNetworkError(e));
  } finally {
    clearTimeout(timer);
    await fh.close();
  }
  return have;
}
