import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Where and how the hub is reached; every field follows the variable Hugging Face tools read. */
export interface HubEnv {
  /** HF_HOME (default ~/.cache/huggingface, or $XDG_CACHE_HOME/huggingface). */
  readonly home: string;
  /** HF_HUB_CACHE (default $HF_HOME/hub; the legacy HUGGINGFACE_HUB_CACHE is read too). */
  readonly cacheDir: string;
  /** HF_ENDPOINT without a trailing slash (default https://huggingface.co). */
  readonly endpoint: string;
  /** HF_TOKEN (or HUGGING_FACE_HUB_TOKEN, or the file at HF_TOKEN_PATH / $HF_HOME/token). */
  readonly token: string | undefined;
  /** HF_HUB_OFFLINE=1 (also true/yes/on). */
  readonly offline: boolean;
  /** HF_HUB_DISABLE_PROGRESS_BARS=1. */
  readonly disableProgress: boolean;
  /** HF_HUB_ETAG_TIMEOUT seconds (default 10): metadata requests. */
  readonly metadataTimeoutMs: number;
  /** HF_HUB_DOWNLOAD_TIMEOUT seconds (default 10): longest silence while a file downloads. */
  readonly downloadTimeoutMs: number;
}

const TRUE = new Set(['1', 'on', 'yes', 'true']);

function flag(v: string | undefined): boolean {
  return v !== undefined && TRUE.has(v.trim().toLowerCase());
}

function expand(p: string): string {
  return resolve(p.startsWith('~') ? join(homedir(), p.slice(1)) : p);
}

function seconds(v: string | undefined, dflt: number): number {
  const n = v === undefined ? NaN : Number(v);
  return (Number.isFinite(n) && n > 0 ? n : dflt) * 1000;
}

/** Reads the Hugging Face variables from `env` (process.env by default) at call time. */
export function hubEnv(env: NodeJS.ProcessEnv = process.env): HubEnv {
  const xdg = env.XDG_CACHE_HOME ? expand(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  const home = env.HF_HOME ? expand(env.HF_HOME) : join(xdg, 'huggingface');
  const cacheDir = env.HF_HUB_CACHE
    ? expand(env.HF_HUB_CACHE)
    : env.HUGGINGFACE_HUB_CACHE
      ? expand(env.HUGGINGFACE_HUB_CACHE)
      : join(home, 'hub');
  const endpoint = (env.HF_ENDPOINT?.trim() || 'https://huggingface.co').replace(/\/+$/, '');
  let token = env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim() || undefined;
  if (!token) {
    const tokenPath = env.HF_TOKEN_PATH ? expand(env.HF_TOKEN_PATH) : join(home, 'token');
    try {
      if (existsSync(tokenPath)) token = readFileSync(tokenPath, 'utf8').trim() || undefined;
    } catch {
      token = undefined;
    }
  }
  return {
    home,
    cacheDir,
    endpoint,
    token,
    offline: flag(env.HF_HUB_OFFLINE) || flag(env.TRANSFORMERS_OFFLINE),
    disableProgress: flag(env.HF_HUB_DISABLE_PROGRESS_BARS),
    metadataTimeoutMs: seconds(env.HF_HUB_ETAG_TIMEOUT, 10),
    downloadTimeoutMs: seconds(env.HF_HUB_DOWNLOAD_TIMEOUT, 10),
  };
}
