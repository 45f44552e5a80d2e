import { definePlugin, silentLogger, type DatasetSourcePlugin, type Logger } from '@autoround/core';
import { AutoRoundError } from '@autoround/core-tensor';
import type { HubOptions } from '@autoround/hub';
import { combine, prepareDataset } from './build.js';
import { parseDatasetSpec } from './grammar.js';
import { localKind } from './local.js';
import { hubSource, localSource, missingFileOrHub, selfSource, selfUnavailable, type SelfGenerate } from './sources.js';
import type { CalibTokenizer } from './tokenizer.js';

export { type CalibTokenizer, type ChatMessage } from './tokenizer.js';
export { readLocalFile, readParquetRows, type Sample } from './local.js';
export { type CalibSource, type SelfGenerate, selfSource, type SourceContext, type SourceSamples } from './sources.js';
export { PyRandom } from '@autoround/core';
export { npPermutation, NpPCG64, seedSequenceState } from './np-random.js';
export {
  combine,
  concatChunks,
  prepareDataset,
  shuffleSamples,
  renderSample,
  type PreparedDataset,
  type BuildOptions,
} from './build.js';

export interface CalibrationOptions {
  /** Samples wanted (default 128). */
  nsamples?: number;
  /** Tokens per sample (default 2048). */
  seqlen?: number;
  /** Shuffle seed (default 42). */
  seed?: number;
  log?: Logger;
  /** Hub access (cache folder, endpoint, token, offline…); default: the HF_* variables. */
  hub?: HubOptions;
  /**
   * Sources of installed plugins (the host passes its registry's), tried before the built-in ones. One
   * named like a built-in source (self, local, hub: this package's plugin contributions) is left out:
   * the built-in one, made with this call's hub options and sampler, reads it.
   */
  sources?: readonly DatasetSourcePlugin[];
  /** The model's sampler, for `--dataset self`. */
  generate?: SelfGenerate;
}

/** Built-in sources, in the order they are tried. */
export function builtinSources(o: { hub?: HubOptions; generate?: SelfGenerate } = {}): DatasetSourcePlugin[] {
  return [o.generate ? selfSource(o.generate) : selfUnavailable, localSource, hubSource(o.hub)];
}

/**
 * Tokenized calibration samples for a --dataset string (default NeelNanda/pile-10k), built as the
 * original AutoRound does: each dataset's records shuffled with the seed, tokenized with truncation to
 * seqlen, optionally packed (concat), filtered (fewer than seqlen tokens, or a last token repeated over
 * seqlen/2 times), and several datasets mixed by num= and an even split; at most nsamples of exactly
 * seqlen tokens.
 */
export async function loadCalibration(dataset: string | undefined, tokenizer: CalibTokenizer, options: CalibrationOptions = {}): Promise<Int32Array[]> {
  const o = { nsamples: options.nsamples ?? 128, seqlen: options.seqlen ?? 2048, seed: options.seed ?? 42, log: options.log ?? silentLogger };
  if (!Number.isInteger(o.nsamples) || o.nsamples < 1) throw new AutoRoundError('E_DATASET_SPEC', `nsamples must be a positive integer (got ${o.nsamples})`, { subject: '--nsamples' });
  if (!Number.isInteger(o.seqlen) || o.seqlen < 1) throw new AutoRoundError('E_DATASET_SPEC', `seqlen must be a positive integer (got ${o.seqlen})`, { subject: '--seqlen' });
  const items = parseDatasetSpec(dataset, (item, key) => o.log.warn(`--dataset ${item}: option "${key}" is not an AutoRound option; passed to the source as is`));
  const builtins = builtinSources({ hub: options.hub, generate: options.generate });
  const sources = [...(options.sources ?? []).filter((s) => !builtins.some((b) => b.name === s.name)), ...builtins];
  const prepared = [];
  for (const item of items) {
    const source = sources.find((s) => s.matches(item.name));
    // a file name ("./calib.txt", "calib.jsonl") that is not there: say so, and that it is no hub id either
    if (!source && (localKind(item.name) || /^\.{0,2}[\\/]/.test(item.name))) throw missingFileOrHub(item.name);
    if (!source) {
      throw new AutoRoundError(
        'E_DATASET_SPEC',
        `--dataset ${item.name}: not an existing file, a registered dataset or a hub id "org/name". ` +
          `Use a local .txt/.json/.jsonl/.parquet file, a Hugging Face dataset id, or "self"`,
        { subject: '--dataset' },
      );
    }
    o.log.debug(`dataset ${item.raw}: source ${source.name}`);
    prepared.push(await prepareDataset(item, source, tokenizer, o));
  }
  const samples = combine(prepared, o);
  if (samples.length === 0) {
    throw new AutoRoundError(
      'E_DATASET_EMPTY',
      `--dataset ${items.map((i) => i.raw).join(',')} gave no sample of ${o.seqlen} tokens: lower --seqlen, add longer texts, or add :concat to pack short ones`,
      { subject: '--dataset' },
    );
  }
  if (samples.length < o.nsamples) {
    o.log.warn(`only ${samples.length} of ${o.nsamples} calibration samples of ${o.seqlen} tokens: lower --seqlen, add data, or use :concat to pack short texts`);
  }
  return samples.map((s) => Int32Array.from(s));
}

/** The plugin: dataset sources for `self`, local files and the hub. */
export default definePlugin({ name: '@autoround/calib-datasets', datasets: [selfUnavailable, localSource, hubSource()] });
