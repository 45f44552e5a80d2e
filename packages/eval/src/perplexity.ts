import { AutoRoundError, type CausalLM, type PerplexityOptions, type PerplexityResult } from '@autoround/core';

// the option and result types are core's (the host's EvaluatorPlugin interface); re-exported for existing callers
export type { PerplexityOptions, PerplexityResult } from '@autoround/core';
import { nonFiniteScoreError } from './nonfinite.js';

/**
 * The perplexity windows of a token stream: pieces of seqlen − 1 tokens (seqlen without BOS), each
 * as [BOS] + piece; every token of the piece is scored from its prefix within the window.
 */
export function evalWindows(ids: Int32Array, options: PerplexityOptions): Int32Array[] {
  const { seqlen, bosTokenId } = options;
  if (!Number.isInteger(seqlen) || seqlen < 2) throw new AutoRoundError('E_BAD_FLAG', `perplexity: seqlen must be an integer ≥ 2, got ${seqlen}`, { subject: '--eval_seqlen' });
  // a negative limit used to cut from the end of the text (subarray), and 0 meant no limit
  if (options.maxTokens !== undefined && !(Number.isInteger(options.maxTokens) && options.maxTokens >= 1)) {
    throw new AutoRoundError('E_BAD_FLAG', `perplexity: maxTokens (--eval_max_tokens) must be an integer ≥ 1, got ${options.maxTokens}`, { subject: 'maxTokens' });
  }
  const withBos = bosTokenId !== undefined;
  const piece = withBos ? seqlen - 1 : seqlen;
  const stream = options.maxTokens !== undefined ? ids.subarray(0, Math.min(ids.length, options.maxTokens + (withBos ? 0 : 1))) : ids;
  const out: Int32Array[] = [];
  for (let start = 0; start < stream.length; start += piece) {
    const chunk = stream.subarray(start, Math.min(stream.length, start + piece));
    const input = withBos ? Int32Array.from([bosTokenId, ...chunk]) : chunk;
    if (input.length < 2) break;
    out.push(input);
  }
  return out;
}

/**
 * Perplexity over non-overlapping windows: the token stream is cut into pieces of
 * seqlen − 1 tokens (seqlen without BOS), each fed as [BOS] + piece, and every token of
 * the piece is scored from its prefix within the window.
 */
export function perplexity(model: CausalLM, ids: Int32Array, options: PerplexityOptions): PerplexityResult {
  const windows = evalWindows(ids, options);
  const total = windows.reduce((n, w) => n + w.length - 1, 0);
  let nllSum = 0;
  let scored = 0;
  for (const [k, input] of windows.entries()) {
    const windowNll = windowNllOf(model, input);
    scored += input.length - 1;
    // a NaN or Inf is a broken model or a broken kernel, never a perplexity to print
    if (!Number.isFinite(windowNll)) throw nonFiniteScoreError(model, input, k, 'perplexity', options.weights);
    nllSum += windowNll;
    options.onProgress?.(scored, total);
  }
  if (scored === 0) throw new AutoRoundError('E_EVAL', 'perplexity: the text is too short to score a single token');
  const nll = nllSum / scored;
  return { perplexity: Math.exp(nll), nll, tokens: scored, windows: windows.length };
}

/** Summed negative log-likelihood (nats) of a window's tokens after the first, each scored from its prefix. */
export function windowNllOf(model: CausalLM, input: Int32Array): number {
  const V = model.spec.vocabSize;
  const logits = model.forward(input);
  let nll = 0;
  for (let t = 0; t + 1 < input.length; t++) nll += logSumExp(logits, t * V, V) - logits[t * V + input[t + 1]!]!;
  return nll;
}

/** log Σ exp(a[o … o + n)), computed from the row's maximum. */
export function logSumExp(a: Float32Array, o: number, n: number): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (a[o + i]! > max) max = a[o + i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(a[o + i]! - max);
  return Math.log(sum) + max;
}
