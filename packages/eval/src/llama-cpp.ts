// Perplexity as llama.cpp's llama-perplexity computes it (tools/perplexity/perplexity.cpp, `perplexity()`), so a
// GGUF user can set our number beside the one llama.cpp prints. The protocol: docs/perplexity-llama-cpp.md.
import { AutoRoundError, type CausalLM, type LlamaCppPerplexityOptions, type PerplexityResult } from '@autoround/core';
import { logSumExp } from './perplexity.js';
import { nonFiniteScoreError } from './nonfinite.js';

/**
 * The chunks llama-perplexity evaluates: `tokens` (the whole text as llama.cpp tokenizes it, BOS in front when the
 * vocabulary adds one) cut into floor(tokens / nCtx) chunks of nCtx tokens (the tail is dropped), each chunk's
 * first token replaced by BOS when there is one, at most `maxChunks` of them. Fewer than 2·nCtx tokens is an
 * error, as there.
 */
export function llamaCppChunks(tokens: Int32Array, options: LlamaCppPerplexityOptions): Int32Array[] {
  const { nCtx, bosTokenId, maxChunks } = options;
  if (!Number.isInteger(nCtx) || nCtx < 4) throw new AutoRoundError('E_BAD_FLAG', `llama.cpp perplexity: the context (--eval_seqlen) must be an integer ≥ 4, got ${nCtx}`, { subject: '--eval_seqlen' });
  if (maxChunks !== undefined && !(Number.isInteger(maxChunks) && maxChunks >= 1)) {
    throw new AutoRoundError('E_BAD_FLAG', `llama.cpp perplexity: the chunk limit must be an integer ≥ 1, got ${maxChunks}`, { subject: '--eval_max_tokens' });
  }
  if (tokens.length < 2 * nCtx) {
    throw new AutoRoundError('E_EVAL', `llama.cpp perplexity needs at least ${2 * nCtx} tokens (2 × the context ${nCtx}), as llama-perplexity does; the text tokenizes to ${tokens.length}`, { subject: '--eval_seqlen' });
  }
  const n = Math.min(Math.floor(tokens.length / nCtx), maxChunks ?? Infinity);
  const chunks: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const c = tokens.slice(i * nCtx, (i + 1) * nCtx);
    if (bosTokenId !== undefined) c[0] = bosTokenId;
    chunks.push(c);
  }
  return chunks;
}

/** The first position whose next-token prediction a chunk scores (n_ctx / 2): the positions before it are context. */
export const llamaCppFirstScored = (nCtx: number): number => Math.floor(nCtx / 2);

/**
 * llama-perplexity's number: every chunk through the model from an empty cache, the tokens at positions
 * first + 1 … nCtx − 1 scored from the logits of the position before (nCtx − first − 1 per chunk), the mean
 * negative log-likelihood over all chunks, exponentiated.
 */
export function llamaCppPerplexity(model: CausalLM, tokens: Int32Array, options: LlamaCppPerplexityOptions): PerplexityResult {
  const chunks = llamaCppChunks(tokens, options);
  const V = model.spec.vocabSize;
  const first = llamaCppFirstScored(options.nCtx);
  const perChunk = options.nCtx - first - 1;
  const total = perChunk * chunks.length;
  let nll = 0;
  let count = 0;
  for (const [k, chunk] of chunks.entries()) {
    const logits = model.forward(chunk);
    let chunkNll = 0;
    for (let j = first; j < options.nCtx - 1; j++) chunkNll += logSumExp(logits, j * V, V) - logits[j * V + chunk[j + 1]!]!;
    if (!Number.isFinite(chunkNll)) throw nonFiniteScoreError(model, chunk, k, 'llama.cpp perplexity', options.weights);
    nll += chunkNll;
    count += perChunk;
    options.onProgress?.(count, total);
  }
  return { perplexity: Math.exp(nll / count), nll: nll / count, tokens: count, windows: chunks.length };
}
