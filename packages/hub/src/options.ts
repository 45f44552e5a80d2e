import type { Logger } from '@autoround/core';
import { silentLogger } from '@autoround/core';
import { AutoRoundError } from '@autoround/core-tensor';
import { hubEnv, type HubEnv } from './env.js';

export type RepoType = 'model' | 'dataset';

/** Options every hub call takes. Unset fields come from the HF_* variables (see hubEnv). */
export interface HubOptions {
  /** Overrides HF_HUB_CACHE. */
  cacheDir?: string;
  /** Overrides HF_ENDPOINT. */
  endpoint?: string;
  /** Overrides HF_TOKEN; `null` sends no token even when one is configured. */
  token?: string | null;
  /** Overrides HF_HUB_OFFLINE. */
  offline?: boolean;
  log?: Logger;
  /** Draw a progress bar (default: only when stderr is a terminal and HF_HUB_DISABLE_PROGRESS_BARS is unset). */
  progress?: boolean;
  /** Extra tries after a network failure or an HTTP 5xx/429 (default 3). */
  retries?: number;
  /** First pause between tries, doubled each time (default 1000 ms). */
  retryDelayMs?: number;
  /**
   * How cached blobs are checked before use. 'fast' (default): size, plus a checksum whenever the
   * blob changed since it was last verified (size or mtime); 'full': always the checksum.
   */
  verify?: 'fast' | 'full';
  /** Environment to read the HF_* variables from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface HubConfig extends HubEnv {
  readonly log: Logger;
  readonly progress: boolean | undefined;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly verify: 'fast' | 'full';
}

export function hubConfig(o: HubOptions = {}): HubConfig {
  const e = hubEnv(o.env);
  return {
    ...e,
    cacheDir: o.cacheDir ?? e.cacheDir,
    endpoint: (o.endpoint ?? e.endpoint).replace(/\/+$/, ''),
    token: o.token === null ? undefined : (o.token ?? e.token),
    offline: o.offline ?? e.offline,
    log: o.log ?? silentLogger,
    progress: o.progress,
    retries: Math.max(0, o.retries ?? 3),
    retryDelayMs: Math.max(0, o.retryDelayMs ?? 1000),
    verify: o.verify ?? 'fast',
  };
}

const REPO_ID = /^(?:[A-Za-z0-9][\w.-]*\/)?[\w.-]+$/;

export function isRepoId(s: string): boolean {
  return REPO_ID.test(s) && !s.includes('--') && !s.includes('..') && !s.endsWith('.') && s.length <= 96;
}

export function checkRepoId(repoId: string, repoType: RepoType): void {
  if (!isRepoId(repoId)) {
    throw new AutoRoundError(
      'E_HUB_REPO_ID',
      `"${repoId}" is not a valid Hugging Face ${repoType} id (expected "name" or "org/name": letters, digits, "-", "_", ".", no "--" or "..")`,
      { subject: repoId },
    );
  }
}

export function checkRepoPath(path: string, repoId: string): void {
  if (!path || path.startsWith('/') || path.includes('\\') || path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new AutoRoundError('E_HUB_PATH', `"${path}" is not a valid file path in repository ${repoId}`, { subject: path });
  }
}
