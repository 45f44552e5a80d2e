import { AutoRoundError } from '@autoround/core-tensor';
import { hfHubDownload } from './download.js';
import type { HubOptions } from './options.js';
import { repoInfo, type RepoInfo } from './snapshot.js';

export interface SplitFilesRequest extends HubOptions {
  repoId: string;
  /** Split name ("train", "validation", "train_sft"…). */
  split: string;
  /** Config (subset) name; default: the repository's own files, else the "default" config, else the first. */
  config?: string;
  /** Revision of the repository's own files (default "main"). */
  revision?: string;
}

export interface SplitFiles {
  /** Local paths (snapshot entries), in repository order. */
  paths: string[];
  /** Paths inside the repository. */
  repoPaths: string[];
  /** "repo": the repository's own data files; "parquet-conversion": the hub's refs/convert/parquet export. */
  via: 'repo' | 'parquet-conversion';
  commit: string;
}

const DATA_EXT = /\.(parquet|jsonl|json)$/i;
const SYNONYMS: Record<string, string[]> = {
  train: ['train', 'training'],
  validation: ['validation', 'valid', 'val', 'dev'],
  test: ['test', 'testing', 'eval', 'evaluation'],
};
const KNOWN = new Set(Object.values(SYNONYMS).flat());

function tokens(path: string): string[] {
  return path.toLowerCase().replace(DATA_EXT, '').split(/[/.\-\s]+/).filter(Boolean);
}

/** The repository's own data files for `split`, the way `datasets` finds them by name when there is no explicit config. */
export function matchRepoDataFiles(siblings: readonly string[], split: string, config?: string): string[] {
  let data = siblings.filter((p) => DATA_EXT.test(p) && !p.split('/').some((seg) => seg.startsWith('.')) && !/(^|\/)dataset_infos?\.json$/i.test(p));
  data = data.filter((p) => !/(^|\/)(config|dataset_dict|state|metadata)\.json$/i.test(p));
  if (config) {
    const inConfig = data.filter((p) => p.split('/').slice(0, -1).includes(config));
    if (inConfig.length) data = inConfig;
  }
  const names = SYNONYMS[split.toLowerCase()] ?? [split.toLowerCase()];
  const hit = data.filter((p) => tokens(p).some((t) => names.includes(t)));
  if (hit.length) return hit;
  // No split named anywhere: everything is "train", as in `datasets`.
  const anySplit = data.some((p) => tokens(p).some((t) => KNOWN.has(t)));
  if (split.toLowerCase() === 'train' && !anySplit) return data;
  return [];
}

/** Files of the refs/convert/parquet export for config/split (new layout config/split/NNNN.parquet, or the legacy config/name-split.parquet). */
export function matchParquetExport(siblings: readonly string[], split: string, config?: string): { files: string[]; config?: string; splits: Map<string, string[]> } {
  const byConfig = new Map<string, string[]>();
  for (const p of siblings) {
    if (!p.endsWith('.parquet')) continue;
    const c = p.split('/')[0]!;
    if (!byConfig.has(c)) byConfig.set(c, []);
    byConfig.get(c)!.push(p);
  }
  const configs = [...byConfig.keys()].sort();
  const chosen = config ?? (byConfig.has('default') ? 'default' : configs[0]);
  const splits = new Map<string, string[]>();
  for (const c of configs) {
    const names = new Set<string>();
    for (const p of byConfig.get(c)!) names.add(splitOfExportPath(p));
    splits.set(c, [...names].sort());
  }
  if (!chosen || !byConfig.has(chosen)) return { files: [], config: chosen, splits };
  const files = byConfig.get(chosen)!.filter((p) => {
    const s = splitOfExportPath(p);
    return s === split || s === `partial-${split}`;
  });
  return { files: files.sort(), config: chosen, splits };
}

function splitOfExportPath(p: string): string {
  const parts = p.split('/');
  if (parts.length >= 3) return parts[1]!;
  const m = /-([A-Za-z0-9_]+?)(?:-\d{5}-of-\d{5})?\.parquet$/.exec(parts[parts.length - 1]!);
  return m ? m[1]! : '';
}

/**
 * Finds and downloads the data files of one split of a hub dataset: the repository's own Parquet /
 * JSON Lines / JSON files when their names give the split, else the hub's Parquet export
 * (revision refs/convert/parquet). Offline, the cached files answer.
 */
export async function datasetSplitFiles(req: SplitFilesRequest): Promise<SplitFiles> {
  const base = { ...req, repoType: 'dataset' as const };
  let main: RepoInfo | undefined;
  let mainError: unknown;
  try {
    main = await repoInfo({ ...base, revision: req.revision ?? 'main' });
  } catch (e) {
    if (!(e instanceof AutoRoundError) || !['E_HUB_OFFLINE', 'E_HUB_NETWORK'].includes(e.code)) throw e;
    mainError = e;
  }
  if (main) {
    const own = matchRepoDataFiles(main.siblings, req.split, req.config);
    if (own.length) return download(base, main.sha, own, 'repo');
  }
  let conv: RepoInfo | undefined;
  try {
    conv = await repoInfo({ ...base, revision: 'refs/convert/parquet' });
  } catch (e) {
    if (mainError) throw mainError;
    if (!(e instanceof AutoRoundError) || e.code !== 'E_HUB_NOT_FOUND') throw e;
  }
  const exp = conv ? matchParquetExport(conv.siblings, req.split, req.config) : undefined;
  if (conv && exp && exp.files.length) return download(base, conv.sha, exp.files, 'parquet-conversion');
  if (mainError) throw mainError;
  const available = exp && exp.splits.size ? ` Available (config: splits): ${[...exp.splits].map(([c, s]) => `${c}: ${s.join('+')}`).join('; ')}.` : '';
  throw new AutoRoundError(
    'E_DATASET_SPLIT',
    `dataset "${req.repoId}" has no data files for split "${req.split}"${req.config ? ` in config "${req.config}"` : ''}` +
      `${main?.fromCache || conv?.fromCache ? ' in the cache' : ''}.${available}`,
    { subject: req.repoId },
  );
}

async function download(base: HubOptions & { repoId: string; repoType: 'dataset' }, commit: string, repoPaths: string[], via: SplitFiles['via']): Promise<SplitFiles> {
  const paths: string[] = [];
  for (const filename of repoPaths) paths.push(await hfHubDownload({ ...base, revision: commit, filename }));
  return { paths, repoPaths, via, commit };
}

/**
 * The hub's Parquet listing, `GET {endpoint}/api/datasets/{repo}/parquet[/{config}[/{split}]]`:
 * config → split → URLs (or split → URLs, or URLs, as narrowed).
 */
export async function parquetListing(req: HubOptions & { repoId: string; config?: string; split?: string }): Promise<unknown> {
  const { hubConfig } = await import('./options.js');
  const http = await import('./http.js');
  const cfg = hubConfig(req);
  const tail = req.config ? `/${encodeURIComponent(req.config)}${req.split ? `/${encodeURIComponent(req.split)}` : ''}` : '';
  const url = `${cfg.endpoint}/api/datasets/${req.repoId}/parquet${tail}`;
  const s = { repoId: req.repoId, repoType: 'dataset' as const };
  if (cfg.offline) throw new AutoRoundError('E_HUB_OFFLINE', `HF_HUB_OFFLINE is set: cannot list the Parquet files of dataset "${req.repoId}"`, { subject: req.repoId });
  const res = await http.requestWithRetries(cfg, url, s, () => http.fetchWithTimeout(url, { headers: http.headersFor(cfg, url) }, cfg.metadataTimeoutMs));
  if (!res.ok) throw http.hubHttpError(res, url, s, cfg);
  return res.json();
}
