import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DatasetRequest, DatasetSourcePlugin, Logger } from '@autoround/core';
import { AutoRoundError, isAutoRoundError } from '@autoround/core-tensor';
import { datasetSplitFiles, isRepoId, type HubOptions } from '@autoround/hub';
import { DEFAULT_DATASET } from './grammar.js';
import { localKind, readJsonFile, readJsonLinesFile, readLocalFile, readParquetFile, readParquetRows, type Sample } from './local.js';
import { lookupKnown, UNSUPPORTED_DATASETS, type KnownDataset } from './registry.js';

/** What a source hands the sample builder. */
export interface SourceSamples {
  samples: Sample[];
  /** How to order them before tokenizing (default 'python', as the original's local files). */
  shuffle?: 'python' | 'numpy' | 'none';
  /** Keep only this many after shuffling. */
  take?: number;
  /** Apply the chat template when the tokenizer has one, even without apply_chat_template. */
  chat?: 'auto';
}

export interface SourceContext {
  log: Logger;
  seed: number;
  seqlen: number;
  /** How many samples are wanted from this source. */
  count: number;
}

/**
 * A DatasetSourcePlugin with richer loaders: records that may be conversations, with their shuffle
 * rule (loadSamples), or token sequences that skip tokenization (loadTokens, for `self`).
 */
export interface CalibSource extends DatasetSourcePlugin {
  loadSamples?(req: DatasetRequest, ctx: SourceContext): Promise<SourceSamples>;
  loadTokens?(req: DatasetRequest, ctx: SourceContext): Promise<number[][]>;
}

function samplesToTexts(samples: Sample[]): string[] {
  return samples.map((s) => (typeof s === 'string' ? s : s.map((m) => m.content).join('')));
}

function textField(req: DatasetRequest): string | undefined {
  const v = req.options.text_field;
  return typeof v === 'string' ? v : undefined;
}

/** Local files: .txt (documents at blank lines; `:lines` for one per line), .json, .jsonl, .parquet. */
export const localSource: CalibSource = {
  name: 'local',
  matches(name: string): boolean {
    try {
      return existsSync(name) && statSync(name).isFile();
    } catch {
      return false;
    }
  },
  async loadSamples(req) {
    if (!localKind(req.name)) {
      throw new AutoRoundError('E_DATASET_FILE', `calibration file ${req.name}: unsupported type (use .txt, .json, .jsonl or .parquet)`, { subject: req.name });
    }
    const samples = await readLocalFile(req.name, { textField: textField(req), lines: req.options.lines === true || req.options.lines === 'true' });
    return { samples, shuffle: 'python' };
  },
  async load(req, ctx) {
    return samplesToTexts((await this.loadSamples!(req, { ...ctx, seqlen: 0, count: 0 })).samples);
  },
};

function unavailable(name: string, e: AutoRoundError): AutoRoundError {
  const isDefault = name === DEFAULT_DATASET;
  return new AutoRoundError(
    'E_DATASET_UNAVAILABLE',
    `${isDefault ? 'the default calibration dataset' : 'calibration dataset'} ${name} cannot be loaded: ${e.message}. ` +
      `Pass a local file instead with --dataset ./calib.jsonl (.txt, .json, .jsonl or .parquet), ` +
      `or use --dataset self to sample calibration text from the model itself`,
    { subject: name, cause: e },
  );
}

/** A --dataset value that is neither a file nor a hub dataset: both readings, each with its reason. */
export function missingFileOrHub(name: string, hubError?: AutoRoundError): AutoRoundError {
  const hub = hubError ? `no hub dataset "${name}" either (${hubError.message})` : `not a hub dataset id "org/name" either`;
  return new AutoRoundError('E_DATASET_NOT_FOUND', `--dataset ${name}: no such file (${resolve(name)}), and ${hub}`, { subject: '--dataset', ...(hubError ? { cause: hubError } : {}) });
}

/** Hub datasets: the registered names of the original, and any other `org/name` dataset (Parquet, JSON Lines or JSON files). */
export function hubSource(hub: HubOptions = {}): CalibSource {
  const src: CalibSource = {
    name: 'hub',
    matches(name: string): boolean {
      return name in UNSUPPORTED_DATASETS || !!lookupKnown(name) || (name.includes('/') && isRepoId(name));
    },
    async loadSamples(req, ctx) {
      if (req.name in UNSUPPORTED_DATASETS) {
        throw new AutoRoundError('E_DATASET_UNSUPPORTED', `calibration dataset ${req.name}: ${UNSUPPORTED_DATASETS[req.name]}`, { subject: req.name });
      }
      const known = lookupKnown(req.name);
      const repo = known?.repo ?? req.name;
      const asked = req.split ? req.split.split('+').filter(Boolean) : undefined;
      let splits = asked ?? [...(known?.defaultSplit ?? ['train'])];
      if (known?.fixedSplit && asked && asked.join('+') !== known.defaultSplit.join('+')) {
        ctx.log.warn(`${req.name}: split=${asked.join('+')} ignored; the original always reads ${known.defaultSplit.join('+')}`);
        splits = [...known.defaultSplit];
      }
      if (known?.splits) {
        const bad = splits.filter((s) => !known.splits!.includes(s));
        if (bad.length) throw new AutoRoundError('E_DATASET_SPEC', `${req.name}: split must be one of ${known.splits.join(', ')} (got ${bad.join(', ')})`, { subject: '--dataset' });
      }
      if (known?.note) ctx.log.debug(`${req.name}: ${known.note}`);
      const config = typeof req.options.config === 'string' ? req.options.config : undefined;
      const samples: Sample[] = [];
      try {
        for (const split of splits) {
          const found = await datasetSplitFiles({ ...hub, log: hub.log ?? ctx.log, repoId: repo, split, config });
          const paths = known?.maxFiles ? found.paths.slice(0, known.maxFiles) : found.paths;
          ctx.log.debug(`${repo} ${split}: ${paths.length} file(s) via ${found.via}`);
          for (const p of paths) samples.push(...(await readHubFile(p, known, textField(req))));
        }
      } catch (e) {
        // "data/calib.txt" reads as a hub id too: a missing file must not be reported as a missing hub dataset only
        if (isAutoRoundError(e) && e.code.startsWith('E_HUB_') && !known && localKind(req.name)) throw missingFileOrHub(req.name, e);
        if (isAutoRoundError(e) && ['E_HUB_OFFLINE', 'E_HUB_NETWORK'].includes(e.code)) throw unavailable(req.name, e);
        throw e;
      }
      return { samples, shuffle: known?.shuffle ?? 'numpy', take: known?.take, chat: known?.chat };
    },
    async load(req, ctx) {
      return samplesToTexts((await src.loadSamples!(req, { ...ctx, seqlen: 0, count: 0 })).samples);
    },
  };
  return src;
}

async function readHubFile(path: string, known: KnownDataset | undefined, field: string | undefined): Promise<Sample[]> {
  const kind = localKind(path);
  if (known && !field && kind === 'parquet') {
    const rows = await readParquetRows(path, [...known.columns]);
    const out: Sample[] = [];
    rows.forEach((r, i) => {
      const t = known.text(r);
      if (t === undefined) throw new AutoRoundError('E_DATASET_RECORD', `${path} row ${i}: expected ${known.columns.join(' + ')} as text`, { subject: path });
      out.push(t);
    });
    return out;
  }
  if (kind === 'parquet') return readParquetFile(path, field);
  if (kind === 'jsonl') return readJsonLinesFile(path, field ?? (known?.columns.length === 1 ? known.columns[0] : undefined));
  if (kind === 'json') return readJsonFile(path, field ?? (known?.columns.length === 1 ? known.columns[0] : undefined));
  throw new AutoRoundError('E_DATASET_FILE', `${path}: unsupported hub data file type`, { subject: path });
}

/** Generates `nTokens` token ids from the model, deterministically for a seed. */
export type SelfGenerate = (nTokens: number, seed: number) => Promise<number[]>;

/**
 * `--dataset self`: data-free calibration, sampling token sequences from the model. Sample i uses seed
 * `seed + i`; sequences the filter would drop (a token repeated over half the sequence) are replaced
 * by more draws, up to twice the count plus 8.
 */
export function selfSource(generate: SelfGenerate): CalibSource {
  return {
    name: 'self',
    matches: (name) => name === 'self',
    async loadTokens(_req, ctx) {
      const out: number[][] = [];
      const maxDraws = ctx.count * 2 + 8;
      for (let i = 0; out.length < ctx.count && i < maxDraws; i++) {
        const ids = await generate(ctx.seqlen, ctx.seed + i);
        if (!Array.isArray(ids) && !(ids as unknown instanceof Int32Array)) {
          throw new AutoRoundError('E_DATASET_SELF', `the self-sampling generator returned ${typeof ids}, expected token ids`, { subject: 'self' });
        }
        const seq = Array.from(ids).slice(0, ctx.seqlen);
        if (passesFilter(seq, ctx.seqlen)) out.push(seq);
        else ctx.log.debug(`self: draw ${i} dropped (${seq.length} tokens or too repetitive)`);
      }
      ctx.log.info(`self: sampled ${out.length} sequences of ${ctx.seqlen} tokens from the model`);
      return out;
    },
    async load() {
      throw new AutoRoundError('E_DATASET_SELF', 'dataset "self" yields token ids, not texts: use loadCalibration', { subject: 'self' });
    },
  };
}

/** The `self` source when no model generator was provided. */
export const selfUnavailable: CalibSource = selfSource(async () => {
  throw new AutoRoundError(
    'E_DATASET_SELF',
    '--dataset self samples calibration text from the model, but no generator was given (loadCalibration(..., { generate }))',
    { subject: 'self' },
  );
});

/** The original's filter: at least seqlen tokens, and the last of the first seqlen not repeated over seqlen/2 times. */
export function passesFilter(ids: ArrayLike<number>, seqlen: number): boolean {
  if (ids.length < seqlen) return false;
  const n = Math.min(ids.length, seqlen);
  if (n > 1 && seqlen > 2) {
    const last = ids[n - 1];
    let c = 0;
    for (let i = 0; i < n; i++) if (ids[i] === last) c++;
    if (c > Math.floor(seqlen / 2)) return false;
  }
  return true;
}
