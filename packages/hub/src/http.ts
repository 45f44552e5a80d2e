import { AutoRoundError } from '@autoround/core-tensor';
import type { HubConfig, RepoType } from './options.js';

/** What a request was for, so that an error can say it in the user's terms. */
export interface RequestSubject {
  repoId: string;
  repoType: RepoType;
  revision?: string;
  filename?: string;
}

/** The hub could not be reached at all (refused, DNS, reset, timeout): callers may fall back to the cache. */
export class HubNetworkError extends Error {
  constructor(
    message: string,
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HubNetworkError';
  }
}

const USER_AGENT = `autoround-hub/0.1; node/${process.versions.node}`;

export function repoUrlPrefix(cfg: HubConfig, repoType: RepoType): string {
  return repoType === 'dataset' ? `${cfg.endpoint}/datasets` : cfg.endpoint;
}

export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export function resolveUrl(cfg: HubConfig, repoId: string, repoType: RepoType, revision: string, filename: string): string {
  return `${repoUrlPrefix(cfg, repoType)}/${repoId}/resolve/${encodeURIComponent(revision)}/${encodePath(filename)}`;
}

export function apiRevisionUrl(cfg: HubConfig, repoId: string, repoType: RepoType, revision: string): string {
  return `${cfg.endpoint}/api/${repoType}s/${repoId}/revision/${encodeURIComponent(revision)}`;
}

/** Headers for a request to `url`: the token goes only to the endpoint's own origin, never to a CDN. */
export function headersFor(cfg: HubConfig, url: string, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': USER_AGENT, ...extra };
  if (cfg.token && sameOrigin(url, cfg.endpoint)) h.authorization = `Bearer ${cfg.token}`;
  return h;
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/** fetch with a deadline; a failure to connect becomes HubNetworkError. */
export async function fetchWithTimeout(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new Error(`no answer within ${timeoutMs / 1000}s`)), timeoutMs);
  try {
    return await fetch(url, { ...init, signal: ctl.signal });
  } catch (e) {
    throw new HubNetworkError(`cannot reach ${new URL(url).origin}: ${describeNetworkError(e)}`, url, { cause: e });
  } finally {
    clearTimeout(timer);
  }
}

export function describeNetworkError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const c = err?.cause;
  if (c?.code) return `${c.code}${c.message && !c.message.includes(c.code) ? ` (${c.message})` : ''}`;
  return c?.message ?? err?.message ?? String(e);
}

function what(s: RequestSubject): string {
  const kind = s.repoType === 'dataset' ? 'dataset' : 'model';
  return s.filename ? `file "${s.filename}" of ${kind} "${s.repoId}"` : `${kind} "${s.repoId}"`;
}

export function isRetriableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** Turns a failed hub answer into an AutoRoundError that says what to do. */
export function hubHttpError(res: Response, url: string, s: RequestSubject, cfg: HubConfig): AutoRoundError {
  const code = res.headers.get('x-error-code') ?? '';
  const serverMsg = res.headers.get('x-error-message');
  const note = serverMsg ? ` (hub says: ${serverMsg})` : '';
  const kind = s.repoType === 'dataset' ? 'dataset' : 'model';
  const page = `${repoUrlPrefix(cfg, s.repoType)}/${s.repoId}`;
  const rev = s.revision ?? 'main';
  const subject = s.filename ? `${s.repoId}/${s.filename}` : s.repoId;
  if (code === 'EntryNotFound' || (res.status === 404 && s.filename && code !== 'RepoNotFound' && code !== 'RevisionNotFound')) {
    return new AutoRoundError('E_HUB_NOT_FOUND', `${what(s)} was not found at revision "${rev}" (HTTP ${res.status})${note}`, { subject });
  }
  if (code === 'RevisionNotFound') {
    return new AutoRoundError('E_HUB_NOT_FOUND', `revision "${rev}" of ${kind} "${s.repoId}" was not found (HTTP ${res.status})${note}`, { subject });
  }
  if (code === 'RepoNotFound' || res.status === 404) {
    return new AutoRoundError(
      'E_HUB_NOT_FOUND',
      `${kind} repository "${s.repoId}" was not found on ${cfg.endpoint} (HTTP ${res.status}); check the id` +
        (cfg.token ? '' : `, and if it is private or gated set HF_TOKEN to a token that can read it`) +
        note,
      { subject: s.repoId },
    );
  }
  if (res.status === 401 || res.status === 403 || code === 'GatedRepo') {
    const gated = code === 'GatedRepo' ? 'gated' : 'gated or private';
    const msg = cfg.token
      ? `${what(s)} is ${gated} and the token in HF_TOKEN was refused (HTTP ${res.status}): check the token, and request access at ${page}`
      : `${what(s)} is ${gated} (HTTP ${res.status}): set HF_TOKEN to a Hugging Face access token (${cfg.endpoint}/settings/tokens)` +
        ` and, if the repository is gated, accept its conditions at ${page}`;
    return new AutoRoundError('E_HUB_AUTH', msg + note, { subject });
  }
  if (res.status === 429) {
    return new AutoRoundError('E_HUB_RATE_LIMIT', `${cfg.endpoint} refused ${url} for too many requests (HTTP 429): wait and try again, or set HF_TOKEN${note}`, { subject });
  }
  if (res.status >= 500) {
    return new AutoRoundError(
      'E_HUB_SERVER',
      `${cfg.endpoint} failed with HTTP ${res.status} for ${what(s)} (${url}): the hub is having trouble, try again later` +
        ` (files already in the cache can be used with HF_HUB_OFFLINE=1)${note}`,
      { subject },
    );
  }
  return new AutoRoundError('E_HUB_HTTP', `unexpected HTTP ${res.status} from ${url} for ${what(s)}${note}`, { subject });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `attempt` with retries on network failures and retriable HTTP statuses. `attempt` returns a
 * Response (ok or not); non-retriable failures are turned into errors right away.
 */
export async function requestWithRetries(
  cfg: HubConfig,
  url: string,
  s: RequestSubject,
  attempt: () => Promise<Response>,
): Promise<Response> {
  let lastNetwork: HubNetworkError | undefined;
  for (let i = 0; ; i++) {
    let res: Response | undefined;
    try {
      res = await attempt();
    } catch (e) {
      if (!(e instanceof HubNetworkError)) throw e;
      lastNetwork = e;
    }
    if (res && (res.ok || (res.status >= 300 && res.status < 400) || res.status === 416)) return res;
    const retriable = res ? isRetriableStatus(res.status) : true;
    if (!retriable || i >= cfg.retries) {
      if (res) {
        await res.body?.cancel().catch(() => {});
        throw hubHttpError(res, url, s, cfg);
      }
      throw lastNetwork!;
    }
    const wait = cfg.retryDelayMs * 2 ** i;
    cfg.log.warn(`${res ? `HTTP ${res.status}` : lastNetwork!.message} for ${url}; trying again in ${(wait / 1000).toFixed(1)}s (${i + 1}/${cfg.retries})`);
    await res?.body?.cancel().catch(() => {});
    await sleep(wait);
  }
}
