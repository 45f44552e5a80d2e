import { AutoRoundError, type CausalLM } from '@autoround/core';

export interface PerplexityOptions {
  /** Model input length per window, BOS included when `bosTokenId` is set. */
  seqlen: number;
  /** Prepended to every window (and not scored), as the usual evaluation does for LLaMA. */
  bosTokenId?: number;
  /** Score at most this many tokens (a prefix of the text). */
  maxTokens?: number;
  /** Called after each window with tokens scored so far. */
  onProgress?: (scored: number, total: number) => void;
}

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood per scored token, in nats. */
  nll: number;
  tokens: number;
  windows: number;
}

/**
 * Perplexity over non-overlapping windows: the token stream is cut into pieces of
 * seqlen − 1 tokens (seqlen without BOS), each fed as [BOS] + piece, and every token of
 * the piece is scored from its prefix within the window.
 */
export function perplexity(model: CausalLM, ids: Int32Array, options: PerplexityOptions): PerplexityResult {
  const { seqlen, bosTokenId } = options;
  if (!Number.isInteger(seqlen) || seqlen < 2) throw new AutoRoundError('E_BAD_FLAG', `perplexity: seqlen must be an integer ≥ 2, got ${seqlen}`, { subject: '--eval_seqlen' });
  const withBos = bosTokenId !== undefined;
  const piece = withBos ? seqlen - 1 : seqlen;
  const stream = options.maxTokens !== undefined ? ids.subarray(0, Math.min(ids.length, options.maxTokens + (withBos ? 0 : 1))) : ids;
  const V = model.spec.vocabSize;
  let nllSum = 0;
  let scored = 0;
  let windows = 0;
  const total = withBos ? stream.length : Math.max(0, stream.length - Math.ceil(stream.length / piece));
  for (let start = 0; start < stream.length; start += piece) {
    const chunk = stream.subarray(start, Math.min(stream.length, start + piece));
    const input = withBos ? Int32Array.from([bosTokenId, ...chunk]) : chunk;
    if (input.length < 2) break;
    const logits = model.forward(input);
    for (let t = 0; t + 1 < input.length; t++) {
      const row = logits.subarray(t * V, (t + 1) * V);
      let max = -Infinity;
      for (let i = 0; i < V; i++) if (row[i]! > max) max = row[i]!;
      let sum = 0;
      for (let i = 0; i < V; i++) sum += Math.exp(row[i]! - max);
      const target = input[t + 1]!;
      nllSum += Math.log(sum) + max - row[target]!;
      scored++;
    }
    windows++;
    options.onProgress?.(scored, total);
  }
  if (scored === 0) throw new AutoRoundError('E_EVAL', 'perplexity: the text is too short to score a single token');
  const nll = nllSum / scored;
  return { perplexity: Math.exp(nll), nll, tokens: scored, windows };
}

/** Greedy continuation, for smoke tests and demos (recomputes the whole prefix each step). */
export function greedyGenerate(model: CausalLM, prompt: Int32Array, newTokens: number, eosTokenId?: number): number[] {
  const ids = [...prompt];
  const V = model.spec.vocabSize;
  for (let s = 0; s < newTokens; s++) {
    const logits = model.forward(Int32Array.from(ids));
    const last = logits.subarray((ids.length - 1) * V, ids.length * V);
    let best = 0;
    for (let i = 1; i < V; i++) if (last[i]! > last[best]!) best = i;
    ids.push(best);
    if (best === eosTokenId) break;
  }
  return ids.slice(prompt.length);
}
