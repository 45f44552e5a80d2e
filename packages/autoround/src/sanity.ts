// The sanity probe (docs/sanity-probe.md): after a run, its output folder is read back through the
// same readers `auto-round eval` uses, and its perplexity on a few short windows is compared with the
// source model's; a result more than a set factor worse, or not finite, fails the run (the output
// stays where it was written) and names the block whose output moved most.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  AutoRoundError,
  type CausalLM,
  type DecodingCausalLM,
  type EvaluatorPlugin,
  type KernelBackend,
  type Logger,
  type QuantScheme,
  type Registry,
  isAutoRoundError,
  isBlockwise,
  isDecoding,
} from '@autoround/core';
import { DEMO_TEXT } from './demo.js';
import { weightsOf } from './evaluate.js';
import { type LoadedModel, openModel, tokenizerOf } from './pipeline.js';

/** Windows the probe scores, at most, and their length in tokens (first token unscored). */
export const PROBE_WINDOWS = 4;
export const PROBE_TOKENS = 128;
/** Seed of the sequences sampled from the source model when it has no tokenizer. */
const PROBE_SEED = 1234;

/**
 * How much worse (quantized perplexity / source perplexity) a run may come out: 1.5× when every
 * quantized layer has 4 bits or more, 3× below (GGUF types by their bits: Q3_K, Q2_K → 3×).
 */
export function sanityLimit(bits: number): number {
  return bits >= 4 ? 1.5 : 3;
}

/** The fewest bits any quantized layer of the run has (the run's scheme bits when nothing is quantized). */
export function probeBits(scheme: QuantScheme, layerSchemes: ReadonlyMap<string, QuantScheme | null>): number {
  let bits = Number.POSITIVE_INFINITY;
  for (const s of layerSchemes.values()) if (s) bits = Math.min(bits, s.bits);
  return Number.isFinite(bits) ? bits : scheme.bits;
}

/** The first `PROBE_WINDOWS` calibration samples cut to `PROBE_TOKENS` tokens (copies, so the samples themselves can go). */
export function calibrationWindows(samples: readonly Int32Array[]): Int32Array[] {
  return samples
    .slice(0, PROBE_WINDOWS)
    .filter((s) => s.length >= 2)
    .map((s) => s.slice(0, PROBE_TOKENS));
}

export interface SanityProbeResult {
  /** The output folder read back, and its format. */
  dir: string;
  format: string;
  /** Where the windows came from: "calibration samples", "built-in text", "sampled from the source model". */
  windowsFrom: string;
  windows: number;
  /** Tokens scored (each window's first token is not). */
  tokens: number;
  sourcePerplexity: number;
  quantizedPerplexity: number;
  /** quantized / source perplexity, and the most it may be. */
  ratio: number;
  limit: number;
  /**
   * Per block: ||q − f|| / ||f|| of its output on the source model's input to it. Computed only when
   * the check fails (it costs another pass of both models); empty otherwise, and for architectures
   * that cannot run block by block.
   */
  blockErrors: number[];
  /** The block with the largest error (the first non-finite one when any is), or −1. */
  worstBlock: number;
  seconds: number;
}

export interface SanityProbeRun {
  registry: Registry;
  /** The source model (the run's input). */
  model: LoadedModel;
  outputs: readonly { format: string; dir: string }[];
  backend: KernelBackend;
  log: Logger;
  /** The windows from the run's calibration samples, when it had any. */
  calibration?: Int32Array[];
  /** The fewest bits of a quantized layer (sets the limit). */
  bits: number;
  /** `--dataset self`'s sampler (autoround.ts's sampleTokenBatch), for a source model without a tokenizer. */
  sampleTokens: SampleTokens;
}

/** Sequences of nTokens sampled from the model, one per seed. */
export type SampleTokens = (lm: DecodingCausalLM, bos: number | undefined, nTokens: number, seeds: readonly number[]) => number[][];

/**
 * Reads the first readable output back, scores it and the source model on the probe windows, and
 * throws E_SANITY (keeping the output) when its perplexity is not finite or more than
 * sanityLimit(bits) times the source's. Returns undefined, with a warning, when no output of the run
 * has a reader (a plugin format without one), and with one info line when no evaluator is installed
 * (@autoround/eval scores the windows).
 */
export function sanityProbe(run: SanityProbeRun): SanityProbeResult | undefined {
  const t0 = Date.now();
  const { registry, model, backend, log } = run;
  const evaluator = registry.evaluators[0];
  if (!evaluator) {
    log.info('sanity probe skipped: it scores perplexity through @autoround/eval, which is not installed');
    return undefined;
  }
  const target = readableOutput(registry, run.outputs);
  if (!target) {
    log.warn(`sanity probe skipped: no installed reader for ${run.outputs.map((o) => o.format).join(', ')} (--skip_sanity_check silences this)`);
    return undefined;
  }
  const arch = registry.architecture(model.spec.architecture, model.dir);
  const loadSource = () => arch.load(model.spec, model.checkpoint, backend);
  const loaded = target.loaded;
  try {
    // one model in memory at a time on the way that passes: the source's score, then the output's
    let loadedSource: CausalLM | undefined;
    const source = () => (loadedSource ??= loadSource());
    const { windows, windowsFrom } = probeWindows(registry, evaluator, model, source, run.calibration, run.sampleTokens);
    const sourceNll = sourceScore(evaluator, model, windows, backend, source);
    loadedSource = undefined;
    let quantized: CausalLM;
    try {
      quantized = arch.load(loaded.spec, weightsOf(registry, loaded), backend);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new AutoRoundError('E_SANITY', `sanity check failed: the output written to ${target.dir} (${target.format}) cannot be read back: ${why}. The output is kept; --skip_sanity_check turns this check off`, { subject: target.dir, cause: e });
    }
    const quantNll = nllOf(evaluator, quantized, windows);
    const sourcePerplexity = Math.exp(sourceNll.sum / sourceNll.tokens);
    const quantizedPerplexity = Math.exp(quantNll.sum / quantNll.tokens);
    const ratio = quantizedPerplexity / sourcePerplexity;
    const limit = sanityLimit(run.bits);
    const result: SanityProbeResult = { dir: target.dir, format: target.format, windowsFrom, windows: windows.length, tokens: quantNll.tokens, sourcePerplexity, quantizedPerplexity, ratio, limit, blockErrors: [], worstBlock: -1, seconds: 0 };
    // `!(ratio <= limit)` is true for NaN as well: a result that is not a number never passes
    const failed = !Number.isFinite(sourcePerplexity) || !Number.isFinite(quantizedPerplexity) || !(ratio <= limit);
    if (failed) {
      // only a failing run pays for the per-block errors (one more pass of each model, both loaded)
      result.blockErrors = blockOutputErrors(source(), quantized, windows);
      result.worstBlock = worstOf(result.blockErrors);
    }
    result.seconds = (Date.now() - t0) / 1000;
    if (failed) throw new AutoRoundError('E_SANITY', failureMessage(result, run.bits), { subject: target.dir });
    return result;
  } finally {
    loaded.checkpoint.close();
  }
}

/** The probe's one line on success. */
export function describeProbe(r: SanityProbeResult): string {
  const worst = r.worstBlock >= 0 ? `; largest block output error ${percent(r.blockErrors[r.worstBlock]!)} (block ${r.worstBlock})` : '';
  return `sanity probe: perplexity ${r.sourcePerplexity.toFixed(4)} → ${r.quantizedPerplexity.toFixed(4)} (×${r.ratio.toFixed(3)}, limit ×${r.limit}) read back from ${r.dir} (${r.format}), ${r.tokens} tokens in ${r.windows} window${r.windows === 1 ? '' : 's'} (${r.windowsFrom})${worst}; ${r.seconds.toFixed(1)} s`;
}

function failureMessage(r: SanityProbeResult, bits: number): string {
  const what = !Number.isFinite(r.sourcePerplexity)
    ? `cannot be compared: the source model's own perplexity is ${r.sourcePerplexity}`
    : !Number.isFinite(r.quantizedPerplexity)
      ? `has perplexity ${r.quantizedPerplexity} (the source model's ${r.sourcePerplexity.toFixed(4)})`
      : `has perplexity ${r.quantizedPerplexity.toFixed(4)} against the source model's ${r.sourcePerplexity.toFixed(4)}: ×${r.ratio.toFixed(3)}, more than the ×${r.limit} allowed at ${bits} bits`;
  let blocks = '';
  if (r.worstBlock >= 0) {
    const e = r.blockErrors[r.worstBlock]!;
    const others = r.blockErrors
      .map((err, i) => ({ err, i }))
      .filter((b) => b.i !== r.worstBlock)
      .sort((a, b) => b.err - a.err)
      .slice(0, 2)
      .map((b) => `block ${b.i} ${percent(b.err)}`);
    blocks = Number.isFinite(e)
      ? ` The largest block output error (||q−f||/||f|| on the source model's input to the block) is block ${r.worstBlock}'s: ${percent(e)}${others.length ? ` (next: ${others.join(', ')})` : ''}.`
      : ` Block ${r.worstBlock} is the first whose output is not finite.`;
  }
  return `sanity check failed: the output read back from ${r.dir} (${r.format}) ${what}, on ${r.tokens} tokens in ${r.windows} window${r.windows === 1 ? '' : 's'} (${r.windowsFrom}).${blocks} The output is kept; --skip_sanity_check (API: skipSanityCheck) turns this check off`;
}

function percent(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(x < 0.01 ? 3 : 1)}%` : String(x);
}

/** The first non-finite error's block, else the largest's; −1 for none. */
function worstOf(errors: readonly number[]): number {
  const nonFinite = errors.findIndex((e) => !Number.isFinite(e));
  if (nonFinite >= 0) return nonFinite;
  let worst = -1;
  errors.forEach((e, i) => {
    if (worst < 0 || e > errors[worst]!) worst = i;
  });
  return worst;
}

/**
 * The first of the run's outputs that can be read back: a folder with a config.json that is either
 * a plain checkpoint (fake) or one some installed format detects and reads.
 */
function readableOutput(registry: Registry, outputs: readonly { format: string; dir: string }[]): { format: string; dir: string; loaded: LoadedModel } | undefined {
  for (const o of outputs) {
    if (!existsSync(join(o.dir, 'config.json'))) continue;
    // a folder without safetensors weights (onnx: onnx/model_q4.onnx) has no reader here
    if (!existsSync(join(o.dir, 'model.safetensors')) && !existsSync(join(o.dir, 'model.safetensors.index.json'))) continue;
    let loaded: LoadedModel;
    try {
      loaded = openModel(registry, o.dir);
    } catch (e) {
      // our own output that does not open is a failure of the run, not a format without a reader
      if (isAutoRoundError(e)) throw new AutoRoundError('E_SANITY', `sanity check failed: the output written to ${o.dir} (${o.format}) cannot be opened: ${e.message}. The output is kept; --skip_sanity_check turns this check off`, { subject: o.dir, cause: e });
      throw e;
    }
    if (!loaded.config.quantization_config || registry.exporters.some((e) => e.detect?.(loaded.config) && e.read)) return { ...o, loaded };
    loaded.checkpoint.close();
  }
  return undefined;
}

/**
 * The probe's windows: the run's calibration samples when it had them; else the built-in text
 * through the model's tokenizer; else (no tokenizer.json) sequences sampled from the source model,
 * seeded. None of them needs the network or any file outside the model folder.
 */
function probeWindows(registry: Registry, evaluator: EvaluatorPlugin, model: LoadedModel, source: () => CausalLM, calibration: Int32Array[] | undefined, sample: SampleTokens): { windows: Int32Array[]; windowsFrom: string } {
  if (calibration && calibration.length > 0) return { windows: calibration, windowsFrom: 'calibration samples' };
  const maxPos = Number(model.config.max_position_embeddings ?? PROBE_TOKENS);
  const seqlen = Math.max(2, Math.min(PROBE_TOKENS, Number.isFinite(maxPos) ? maxPos : PROBE_TOKENS));
  const text = builtInTextIds(registry, model);
  if (text) {
    const windows = evaluator.evalWindows(text.ids, { seqlen, ...(text.bos !== undefined ? { bosTokenId: text.bos } : {}) }).slice(0, PROBE_WINDOWS);
    if (windows.length > 0) return { windows, windowsFrom: 'built-in text' };
  }
  const lm = source();
  if (isDecoding(lm)) {
    // the same draw as --dataset self (temperature 1, one random stream per sequence)
    const seeds = Array.from({ length: PROBE_WINDOWS }, (_, i) => PROBE_SEED + i);
    const bos = Number(model.config.bos_token_id ?? 1);
    return { windows: sample(lm, bos, seqlen, seeds).map((s) => Int32Array.from(s)), windowsFrom: 'sampled from the source model' };
  }
  throw new AutoRoundError('E_SANITY', `sanity probe: ${model.dir} has no tokenizer.json and ${model.spec.architecture} cannot sample text to probe with; pass --skip_sanity_check`, { subject: model.dir });
}

/** The built-in text's token ids (and BOS) per tokenizer files, so that repeated runs on one model tokenize it once. */
const textIds = new Map<string, { ids: Int32Array; bos: number | undefined }>();

/** The built-in text through the model's tokenizer; undefined when the folder has no tokenizer.json. */
function builtInTextIds(registry: Registry, model: LoadedModel): { ids: Int32Array; bos: number | undefined } | undefined {
  const dir = model.dir;
  if (!existsSync(join(dir, 'tokenizer.json'))) return undefined;
  const stamp = (f: string) => (existsSync(join(dir, f)) ? `${statSync(join(dir, f)).size}:${statSync(join(dir, f)).mtimeMs}` : '-');
  const key = `${resolve(dir)};${stamp('tokenizer.json')};${stamp('tokenizer_config.json')}`;
  let t = textIds.get(key);
  if (!t) {
    const tokenizer = tokenizerOf(registry, model);
    t = { ids: Int32Array.from(tokenizer.encode(DEMO_TEXT, { addSpecialTokens: false })), bos: tokenizer.bosTokenId };
    if (textIds.size >= SOURCE_SCORES_KEPT) textIds.delete(textIds.keys().next().value!);
    textIds.set(key, t);
  }
  return t;
}

interface NllSum {
  sum: number;
  tokens: number;
}

/**
 * The source model's scores, by model files, backend and windows: a process that quantizes one model
 * several times (the quality tables, the test suite, an API user trying schemes) scores the source
 * once. Keyed on the config and every shard file's size and modification time, so an edited model is
 * scored again.
 */
const sourceScores = new Map<string, NllSum>();
const SOURCE_SCORES_KEPT = 16;

function sourceScore(evaluator: EvaluatorPlugin, model: LoadedModel, windows: readonly Int32Array[], backend: KernelBackend, source: () => CausalLM): NllSum {
  const h = createHash('sha256');
  for (const f of ['config.json', ...model.checkpoint.shardFiles]) {
    const st = statSync(join(model.dir, f));
    h.update(`${f}:${st.size}:${st.mtimeMs};`);
  }
  h.update(`${resolve(model.dir)};${backend.name};`);
  for (const w of windows) h.update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).update(';');
  const key = h.digest('hex');
  let nll = sourceScores.get(key);
  if (!nll) {
    nll = nllOf(evaluator, source(), windows);
    if (sourceScores.size >= SOURCE_SCORES_KEPT) sourceScores.delete(sourceScores.keys().next().value!);
    sourceScores.set(key, nll);
  }
  return { ...nll };
}

/** Summed negative log-likelihood of every window's tokens after the first, each from its prefix (as `perplexity` scores). */
function nllOf(evaluator: EvaluatorPlugin, lm: CausalLM, windows: readonly Int32Array[]): NllSum {
  const nll: NllSum = { sum: 0, tokens: 0 };
  for (const ids of windows) {
    nll.sum += evaluator.windowNll(lm, ids);
    nll.tokens += ids.length - 1;
  }
  return nll;
}

/**
 * Per block, its relative output error ||q − f|| / ||f|| over the windows, with the quantized block
 * run on the source model's input to it: block i alone, whatever the blocks before it did. Empty when
 * either model cannot run block by block.
 */
function blockOutputErrors(source: CausalLM, quantized: CausalLM, windows: readonly Int32Array[]): number[] {
  if (!isBlockwise(source) || !isBlockwise(quantized)) return [];
  const n = source.numBlocks;
  const diff2 = new Float64Array(n);
  const ref2 = new Float64Array(n);
  for (const ids of windows) {
    let x = source.embedTokens(ids);
    for (let i = 0; i < n; i++) {
      const f = source.blockForward(i, x, ids.length);
      const q = quantized.blockForward(i, x, ids.length);
      for (let j = 0; j < f.length; j++) {
        const d = q[j]! - f[j]!;
        diff2[i]! += d * d;
        ref2[i]! += f[j]! * f[j]!;
      }
      x = f;
    }
  }
  return Array.from(diff2, (d, i) => Math.sqrt(d / ref2[i]!));
}
