import { AutoRoundError, type CausalLM, type KlDivergenceResult, type KlDivergenceRun } from '@autoround/core';
import { nonFiniteScoreError } from './nonfinite.js';
import { evalWindows, logSumExp, type PerplexityOptions } from './perplexity.js';

export type { KlDivergenceResult, KlDivergenceRun } from '@autoround/core';

/**
 * How far a model's next-token distributions are from a reference model's (usually full
 * precision) over the perplexity windows, as llama-perplexity's --kl-divergence reports it. The
 * reference's log-probabilities are computed once (windows × vocabulary floats) and compared with
 * any number of models. Near full precision, perplexity moves by less than its own noise (a 4-bit
 * model can score below the original) while the KL divergence still orders models by their
 * distance from the reference.
 */
export class KlDivergence {
  private readonly windows: Int32Array[];
  private readonly logp: Float32Array[];
  private readonly top: Int32Array[];
  private readonly vocab: number;

  constructor(reference: CausalLM, ids: Int32Array, options: PerplexityOptions) {
    this.vocab = reference.spec.vocabSize;
    this.windows = evalWindows(ids, options);
    if (this.windows.length === 0) throw new AutoRoundError('E_EVAL', 'KL divergence: the text is too short to score a single token');
    this.logp = this.windows.map((w, k) => {
      const lp = logSoftmaxRows(reference.forward(w), w.length - 1, this.vocab);
      if (!finiteOrMinusInf(lp)) throw nonFiniteScoreError(reference, w, k, "the reference model's perplexity");
      return lp;
    });
    this.top = this.logp.map((lp, k) => Int32Array.from({ length: this.windows[k]!.length - 1 }, (_, t) => argmax(lp, t * this.vocab, this.vocab)));
  }

  compare(model: CausalLM): KlDivergenceResult {
    const V = this.vocab;
    if (model.spec.vocabSize !== V) throw new AutoRoundError('E_EVAL', `KL divergence: the model has ${model.spec.vocabSize} tokens, the reference ${V}`);
    let kl = 0;
    let same = 0;
    let n = 0;
    this.windows.forEach((w, k) => {
      const rows = w.length - 1;
      const r = compareRows(this.logp[k]!, logSoftmaxRows(model.forward(w), rows, V), rows, V, this.top[k]!);
      // a NaN would make the mean NaN: name where the model computes it instead
      if (!Number.isFinite(r.kl)) throw nonFiniteScoreError(model, w, k, 'KL divergence');
      kl += r.kl;
      same += r.same;
      n += rows;
    });
    return { kld: kl / n, sameTop: same / n, tokens: n };
  }
}

/**
 * KlDivergence in one pass, one window at a time, with both models' perplexities on the way (the
 * numbers `perplexity` and KlDivergence give): memory is two windows of logits, where KlDivergence
 * keeps the reference's log-probabilities of every window (windows × vocabulary floats, too many for
 * a long text and a large vocabulary) to compare several models with.
 */
export function klDivergence(reference: CausalLM, model: CausalLM, ids: Int32Array, options: PerplexityOptions): KlDivergenceRun {
  const V = reference.spec.vocabSize;
  if (model.spec.vocabSize !== V) throw new AutoRoundError('E_EVAL', `KL divergence: the model has ${model.spec.vocabSize} tokens, the reference ${V}`);
  const windows = evalWindows(ids, options);
  if (windows.length === 0) throw new AutoRoundError('E_EVAL', 'KL divergence: the text is too short to score a single token');
  const total = windows.reduce((n, w) => n + w.length - 1, 0);
  let kl = 0;
  let same = 0;
  let nll = 0;
  let refNll = 0;
  let n = 0;
  for (const [k, w] of windows.entries()) {
    const rows = w.length - 1;
    const refLogits = reference.forward(w);
    const logits = model.forward(w);
    let windowNll = 0;
    let windowRefNll = 0;
    for (let t = 0; t < rows; t++) {
      windowNll += logSumExp(logits, t * V, V) - logits[t * V + w[t + 1]!]!;
      windowRefNll += logSumExp(refLogits, t * V, V) - refLogits[t * V + w[t + 1]!]!;
    }
    // either model's NaN would make every figure below NaN: name where it comes from instead
    if (!Number.isFinite(windowRefNll)) throw nonFiniteScoreError(reference, w, k, 'the reference model\'s perplexity');
    if (!Number.isFinite(windowNll)) throw nonFiniteScoreError(model, w, k, 'perplexity', options.weights);
    nll += windowNll;
    refNll += windowRefNll;
    const r = compareRows(logSoftmaxRows(refLogits, rows, V), logSoftmaxRows(logits, rows, V), rows, V);
    kl += r.kl;
    same += r.same;
    n += rows;
    options.onProgress?.(n, total);
  }
  return { kld: kl / n, sameTop: same / n, tokens: n, perplexity: Math.exp(nll / n), referencePerplexity: Math.exp(refNll / n), windows: windows.length };
}

/**
 * Σ over `rows` positions of KL(p ‖ q) (log-probabilities, rows of V), and how many rows rank the
 * same token first (`top`: the reference's first tokens when already known).
 */
function compareRows(p: Float32Array, q: Float32Array, rows: number, V: number, top?: Int32Array): { kl: number; same: number } {
  let kl = 0;
  let same = 0;
  for (let t = 0; t < rows; t++) {
    const o = t * V;
    let d = 0;
    for (let i = 0; i < V; i++) d += Math.exp(p[o + i]!) * (p[o + i]! - q[o + i]!);
    kl += d;
    if (argmax(q, o, V) === (top ? top[t]! : argmax(p, o, V))) same++;
  }
  return { kl, same };
}

function logSoftmaxRows(logits: Float32Array, rows: number, V: number): Float32Array {
  const out = new Float32Array(rows * V);
  for (let t = 0; t < rows; t++) {
    const o = t * V;
    const lse = logSumExp(logits, o, V);
    for (let i = 0; i < V; i++) out[o + i] = logits[o + i]! - lse;
  }
  return out;
}

/** True when every value is finite or −∞ (a token a model rules out entirely is a log-probability of −∞, not an error). */
function finiteOrMinusInf(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!(a[i]! < Infinity)) return false;
  return true;
}

function argmax(a: Float32Array, o: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[o + i]! > a[o + best]!) best = i;
  return best;
}
