// llama-perplexity's loop (llama.cpp tools/perplexity/perplexity.cpp, `perplexity()` without --ppl-stride) over
// node-llama-cpp's evaluation API, for tests and quality tools that need llama.cpp's own number for a .gguf file
// (no llama-perplexity binary is installed; docs/perplexity-llama-cpp.md): the whole text tokenized by llama.cpp
// with BOS in front, chunks of n_ctx from an empty cache, BOS replacing each chunk's first token, the second half of
// each chunk scored from llama.cpp's next-token probabilities.
import type { NodeLlama } from './fixtures.js';

export interface LlamaCppPerplexity {
  /** llama.cpp's tokens of the whole text, BOS first. */
  tokens: number[];
  /** Chunks scored (llama-perplexity's `--chunks`). */
  chunks: number;
  /** Tokens scored. */
  count: number;
  perplexity: number;
}

/**
 * llama.cpp's perplexity of `file` on `text` with context `nCtx`; `maxChunks` scores the first chunks only (as
 * llama-perplexity --chunks). Throws when the vocabulary adds no BOS (the loop here assumes it), the text is shorter
 * than two chunks, or a scored token gets probability 0.
 */
export async function llamaCppPerplexity(llama: NodeLlama, file: string, text: string, nCtx: number, options: { maxChunks?: number; threads?: number } = {}): Promise<LlamaCppPerplexity> {
  const model = await llama.loadModel({ modelPath: file });
  try {
    // common_tokenize(ctx, text, add_special = true): BOS (the vocabulary adds it) and the text's tokens
    if (!model.tokens.shouldPrependBosToken) throw new Error(`${file}: the vocabulary adds no BOS; this loop is written for one that does`);
    const bos = Number(model.tokens.bos);
    const tokens = [bos, ...[...model.tokenize(text)].map(Number)];
    if (tokens.length < 2 * nCtx) throw new Error(`${file}: ${tokens.length} tokens, llama-perplexity needs at least 2 × n_ctx = ${2 * nCtx}`);
    const nChunk = Math.min(Math.floor(tokens.length / nCtx), options.maxChunks ?? Infinity);
    const first = Math.floor(nCtx / 2);
    const ctx = await model.createContext({ contextSize: nCtx, batchSize: nCtx, threads: options.threads ?? 2 });
    try {
      const seq = ctx.getSequence();
      let nll = 0;
      let count = 0;
      for (let i = 0; i < nChunk; i++) {
        await seq.clearHistory(); // llama_memory_clear
        const start = i * nCtx;
        const batch = tokens.slice(start, start + nCtx);
        batch[0] = bos; // "add BOS token for the first batch of each chunk"
        // logits are requested for positions ≥ first; position j predicts token j + 1, for j < nCtx − 1
        const input = batch.map((t, j) => (j >= first && j < nCtx - 1 ? [t, { generateNext: { probabilities: true } }] : t));
        const out = await seq.controlledEvaluate(input as never);
        for (let j = first; j < nCtx - 1; j++) {
          const p = out[j]?.next.probabilities?.get(tokens[start + j + 1]! as never);
          if (!(p !== undefined && p > 0)) throw new Error(`${file}: chunk ${i} position ${j}: llama.cpp gives the next token probability ${p}`);
          nll -= Math.log(p);
          count++;
        }
      }
      return { tokens, chunks: nChunk, count, perplexity: Math.exp(nll / count) };
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}
