// enable_lfq: the block group that holds the model's last block is tuned on the language-model loss
// of the next tokens (final norm, lm_head, cross-entropy) instead of its output MSE. Shared by the
// int and GGUF tuning loops.

import { type Graph, type Var } from '@autoround/core-tensor';
import { AutoRoundError, type BlockTunableCausalLM } from '@autoround/core';
import { type BlockProblem, groupOf } from './loop.js';

/** Largest logits buffer (floats) enable_lfq builds for one micro-batch: 1 GiB. */
const LFQ_MAX_LOGITS = 1 << 28;

/** The samples' tokens when this problem is tuned on the LM loss (enable_lfq and the group holds the last block), else undefined. */
export function lfqTokens(problem: BlockProblem): readonly Int32Array[] | undefined {
  const last = problem.model.numBlocks - 1;
  return problem.o.enableLfq && groupOf(problem).includes(last) ? problem.tokens : undefined;
}

/**
 * The mean cross-entropy of the next token at every position the mask keeps (a sample's last
 * position has none), from the last block's output h [batch·T, hidden] through the final norm and
 * lm_head. Stops with an error naming --batch_size and --seqlen past 1 GiB of logits.
 */
export function lmLoss(g: Graph, h: Var, model: BlockTunableCausalLM, tokens: readonly Int32Array[], samples: readonly number[], mask: Float32Array, T: number): Var {
  const vocab = model.spec.vocabSize;
  const rows = samples.length * T;
  if (rows * vocab > LFQ_MAX_LOGITS) {
    throw new AutoRoundError('E_UNSUPPORTED', `--enable_lfq needs logits of ${rows} tokens × ${vocab} vocabulary (${((rows * vocab * 4) / 2 ** 30).toFixed(1)} GiB) per micro-batch; lower --batch_size or --seqlen`, { subject: '--enable_lfq' });
  }
  const logits = model.headGraph(g, h);
  const targets = new Int32Array(rows);
  samples.forEach((s, k) => {
    const ids = tokens[s]!;
    for (let t = 0; t + 1 < T; t++) targets[k * T + t] = ids[t + 1]!;
  });
  return g.crossEntropy(logits, targets, mask);
}

/**
 * The LM loss as the tuning loop reads a micro-batch's loss: with gradient accumulation
 * ('sum') the loop divides it by batch·T·hidden, as for a summed MSE, so the cross-entropy (a
 * mean) is scaled up by that much; the iteration's total is then the sum of the micro-batches'
 * means, as for the MSE. The gradients stay those of the mean, which the sign step and AdamW
 * do not tell apart from a scaled one (up to AdamW's eps).
 */
export function lmLoopLoss(ce: number, reduction: 'mean' | 'sum', batch: number, T: number, hidden: number): number {
  return reduction === 'sum' ? ce * batch * T * hidden : ce;
}
