import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AutoRoundError } from '@autoround/core-tensor';
import { isCommitHash, listSnapshot, readRef, repoCacheDir, snapshotDir, writeRef } from './cache.js';
import { hfHubDownload, networkError, offlineError } from './download.js';
import { filterPaths } from './glob.js';
import { HubNetworkError, apiRevisionUrl, fetchWithTimeout, headersFor, hubHttpError, requestWithRetries, type RequestSubject } from './http.js';
import { checkRepoId, hubConfig, isRepoId, type HubConfig, type HubOptions, type RepoType } from './options.js';

export interface RepoRequest extends HubOptions {
  repoId: string;
  repoType?: RepoType;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
}

export interface RepoInfo {
  /** The commit the revision resolves to. */
  sha: string;
  /** Every file path in the repository at that commit (from the cache: the files cached). */
  siblings: string[];
  /** True when the hub was not asked (offline) or could not be reached, and the cache answered. */
  fromCache: boolean;
}

function cachedInfo(cfg: HubConfig, repoId: string, repoType: RepoType, revision: string): RepoInfo | undefined {
  const repoDir = repoCacheDir(cfg, repoId, repoType);
  const sha = readRef(repoDir, revision);
  if (!sha) return undefined;
  const dir = snapshotDir(repoDir, sha);
  if (!existsSync(dir)) return undefined;
  return { sha, siblings: listSnapshot(dir), fromCache: true };
}

/**
 * The commit and file list of a repository revision: `GET {endpoint}/api/{models|datasets}/{repo}/revision/{rev}`.
 * Offline, or when the hub cannot be reached, the cached snapshot answers (its files only).
 */
export async function repoInfo(req: RepoRequest): Promise<RepoInfo> {
  const cfg = hubConfig(req);
  const repoType = req.repoType ?? 'model';
  const revision = req.revision ?? 'main';
  checkRepoId(req.repoId, repoType);
  const s: RequestSubject = { repoId: req.repoId, repoType, revision };
  if (cfg.offline) {
    const c = cachedInfo(cfg, req.repoId, repoType, revision);
    if (c) return c;
    throw offlineError(cfg, s);
  }
  const url = apiRevisionUrl(cfg, req.repoId, repoType, revision);
  let body: { sha?: string; siblings?: { rfilename: string }[] };
  try {
    const res = await requestWithRetries(cfg, url, s, () => fetchWithTimeout(url, { headers: headersFor(cfg, url) }, cfg.metadataTimeoutMs));
    if (!res.ok) throw hubHttpError(res, url, s, cfg);
    body = (await res.json()) as typeof body;
  } catch (e) {
    if (!(e instanceof HubNetworkError)) throw e;
    const c = cachedInfo(cfg, req.repoId, repoType, revision);
    if (c) {
      cfg.log.warn(`${e.message}; using the cached ${repoType} ${req.repoId} (${c.sha.slice(0, 8)})`);
      return c;
    }
    throw networkError(cfg, s, e);
  }
  if (!body || typeof body.sha !== 'string' || !isCommitHash(body.sha) || !Array.isArray(body.siblings)) {
    throw new AutoRoundError('E_HUB_HTTP', `${url} did not answer with a repository description (sha, siblings): is HF_ENDPOINT (${cfg.endpoint}) a Hugging Face hub?`, {
      subject: req.repoId,
    });
  }
  writeRef(repoCacheDir(cfg, req.repoId, repoType), revision, body.sha);
  return { sha: body.sha, siblings: body.siblings.map((x) => x.rfilename), fromCache: false };
}

export interface SnapshotRequest extends RepoRequest {
  /** fnmatch patterns (huggingface_hub semantics: `*` crosses `/`); only matching files are fetched. */
  allowPatterns?: string | readonly string[];
  ignorePatterns?: string | readonly string[];
}

/**
 * Downloads the files of a repository revision (those matching allowPatterns) into the cache and
 * returns the snapshot folder, like huggingface_hub.snapshot_download. Offline (HF_HUB_OFFLINE=1) or
 * when the hub cannot be reached, returns the cached snapshot if it has a matching file.
 */
export async function snapshotDownload(req: SnapshotRequest): Promise<string> {
  const cfg = hubConfig(req);
  const repoType = req.repoType ?? 'model';
  const revision = req.revision ?? 'main';
  const info = await repoInfo(req);
  const repoDir = repoCacheDir(cfg, req.repoId, repoType);
  const files = filterPaths(info.siblings, req.allowPatterns, req.ignorePatterns);
  const dir = snapshotDir(repoDir, info.sha);
  if (info.fromCache) {
    if (files.length === 0) {
      const s = { repoId: req.repoId, repoType, revision };
      const e = cfg.offline ? offlineError(cfg, s) : networkError(cfg, s, new HubNetworkError(`cannot reach ${cfg.endpoint}`, cfg.endpoint));
      throw new AutoRoundError(e.code, `${e.message} (the cached snapshot has no file matching ${JSON.stringify(req.allowPatterns ?? '*')})`, { subject: req.repoId });
    }
    return dir;
  }
  if (files.length === 0) {
    cfg.log.warn(`${repoType} ${req.repoId} has no file matching ${JSON.stringify(req.allowPatterns ?? '*')}`);
  }
  for (const filename of files) {
    await hfHubDownload({ ...req, repoType, revision: info.sha, filename });
  }
  if (revision !== info.sha) writeRef(repoDir, revision, info.sha);
  return dir;
}

/** The files a model folder needs (top level only). */
export const MODEL_FILES = [
  'config.json',
  '*.safetensors',
  'model.safetensors.index.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
] as const;

/**
 * A local folder for a model: `idOrPath` itself when it is an existing folder, else the hub snapshot
 * of that repo id (config, safetensors, tokenizer and generation files).
 */
export async function resolveModel(idOrPath: string, options: HubOptions & { revision?: string } = {}): Promise<string> {
  if (existsSync(idOrPath)) {
    const abs = resolve(idOrPath);
    if (!statSync(abs).isDirectory()) {
      throw new AutoRoundError('E_MODEL_PATH', `model ${abs} is a file; expected a folder with config.json and *.safetensors, or a Hugging Face repo id`, { subject: abs });
    }
    return abs;
  }
  const looksLocal = /^(\.{1,2}[\\/]|[\\/]|~|[A-Za-z]:[\\/])/.test(idOrPath) || idOrPath.split('/').length > 2 || idOrPath.includes('\\');
  if (looksLocal || !isRepoId(idOrPath)) {
    throw new AutoRoundError(
      'E_MODEL_PATH',
      `model "${idOrPath}" is neither an existing folder nor a Hugging Face repo id ("org/name")`,
      { subject: idOrPath },
    );
  }
  const dir = await snapshotDownload({ ...options, repoId: idOrPath, repoType: 'model', allowPatterns: MODEL_FILES, ignorePatterns: ['*/*'] });
  if (!existsSync(join(dir, 'config.json'))) {
    throw new AutoRoundError('E_MODEL_PATH', `model "${idOrPath}" has no config.json (snapshot ${dir}): is it a transformers model?`, { subject: idOrPath });
  }
  return dir;
}
