// Log-likelihood of token continuations, the one computation every task reduces to (docs/eval/tasks.md,
// "Scoring"). The choices of a document share a prefix (the context, often more): with a decoder that
// can rewind (CausalDecoder.rewind) the prefix is run once and each choice continues from its cache;
// any other CausalLM runs each sequence whole. A model that packs sequences (PackingCausalLM) scores several
// documents in one forward instead: each document's shared prefix once and its choices as branches off it
// (Scorer.groups). All give the same log-probabilities up to float rounding.
import { AutoRoundError, type CausalDecoder, type CausalLM, type DecodingCausalLM, isPacking } from '@autoround/core';

/** One sequence to score: its tokens (BOS included where the protocol adds one) and the first scored index (≥ 1). */
export interface ScoreRequest {
  readonly tokens: Int32Array;
  readonly from: number;
}

export interface ScoreResult {
  /** Σ log p(token_t | tokens before t) over t ∈ [from, length), natural log. */
  readonly logprob: number;
  /** Tokens scored. */
  readonly count: number;
  /** Every scored token is its row's arg-max (the first of equal maxima), lm-evaluation-harness's is_greedy. */
  readonly greedy: boolean;
}

/** log Σ exp(a[o … o + n)) in float64 from the row's maximum, and the row's arg-max. */
function rowStats(a: Float32Array, o: number, n: number): { lse: number; argmax: number } {
  let max = -Infinity;
  let argmax = 0;
  for (let i = 0; i < n; i++) {
    const v = a[o + i]!;
    if (v > max) {
      max = v;
      argmax = i;
    }
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(a[o + i]! - max);
  return { lse: Math.log(sum) + max, argmax };
}

function isDecoding(m: CausalLM): m is DecodingCausalLM {
  return typeof (m as Partial<DecodingCausalLM>).decoder === 'function';
}

/** Longest common prefix of the sequences. */
export function commonPrefix(seqs: readonly Int32Array[]): number {
  const first = seqs[0];
  if (!first) return 0;
  let p = 0;
  for (; p < first.length; p++) if (!seqs.every((s) => p < s.length && s[p] === first[p])) break;
  return p;
}

/** Scores groups of sequences on one model; counts the model positions it ran. */
export class Scorer {
  private dec: CausalDecoder | undefined;
  private decLen = 0;
  /** Token positions fed to the model so far. */
  positions = 0;

  constructor(
    readonly model: CausalLM,
    /** Longest input the model takes (max_position_embeddings). */
    readonly maxLength: number,
    /** false: run each sequence whole (the reference path the prefix-sharing one is tested against). */
    readonly sharePrefix = true,
    /** false: one document at a time through the decoder's cache even where the model packs (a reference path). */
    readonly pack = true,
  ) {}

  private decoder(len: number): CausalDecoder | undefined {
    if (!this.sharePrefix || !isDecoding(this.model)) return undefined;
    if (!this.dec || this.decLen < len) {
      this.decLen = Math.max(len, Math.min(this.maxLength, 512));
      this.dec = this.model.decoder(this.decLen, 1);
    }
    return this.dec.rewind ? this.dec : undefined;
  }

  private check(requests: readonly ScoreRequest[]): void {
    for (const r of requests) {
      if (!(r.from >= 1 && r.from <= r.tokens.length)) throw new AutoRoundError('E_EVAL', `a scored sequence needs at least one token before the scored ones (from ${r.from}, length ${r.tokens.length})`);
      if (r.tokens.length - 1 > this.maxLength) throw new AutoRoundError('E_SEQLEN', `a task sequence of ${r.tokens.length - 1} input tokens is longer than the model's ${this.maxLength}`);
    }
  }

  /**
   * Scores several documents' groups of sequences (as `group` does each). A packing model runs them as
   * one forward: per document the prefix its sequences share, then each sequence's rest as a branch.
   */
  groups(docs: readonly (readonly ScoreRequest[])[]): ScoreResult[][] {
    const model = this.model;
    if (!this.sharePrefix || !this.pack || !isPacking(model)) return docs.map((d) => this.group(d));
    const tokens: number[] = [];
    const parents: number[] = [];
    const outputs: number[] = [];
    // per request: where each input position's logits land among the outputs
    const plans = docs.map((requests) => {
      this.check(requests);
      const minInput = Math.min(...requests.map((r) => r.tokens.length - 1));
      const p = Math.min(commonPrefix(requests.map((r) => r.tokens)), minInput);
      const first = requests[0]!;
      const prefix0 = tokens.length;
      for (let t = 0; t < p; t++) {
        tokens.push(first.tokens[t]!);
        parents.push(t === 0 ? -1 : prefix0 + t - 1);
      }
      // the prefix rows scored by any request, listed once
      const lo = Math.min(...requests.map((r) => r.from - 1));
      const prefixOut = outputs.length;
      for (let t = lo; t < p; t++) outputs.push(prefix0 + t);
      return requests.map((r) => {
        const rest0 = tokens.length;
        for (let t = p; t < r.tokens.length - 1; t++) {
          tokens.push(r.tokens[t]!);
          parents.push(t === 0 ? -1 : t === p ? prefix0 + p - 1 : tokens.length - 2);
        }
        const restOut = outputs.length;
        for (let t = Math.max(p, r.from - 1); t < r.tokens.length - 1; t++) outputs.push(rest0 + t - p);
        // logits of input position t: a prefix row (t < p) or a row of this request's branch
        return (t: number) => (t < p ? prefixOut + t - lo : restOut + t - Math.max(p, r.from - 1));
      });
    });
    if (!tokens.length) return docs.map((d) => d.map((r) => this.score(r, () => [new Float32Array(0), 0])));
    this.positions += tokens.length;
    const logits = model.forwardPacked({ tokens: Int32Array.from(tokens), parents: Int32Array.from(parents), outputs: Int32Array.from(outputs) });
    const V = model.spec.vocabSize;
    return docs.map((requests, d) => requests.map((r, j) => this.score(r, (t) => [logits, plans[d]![j]!(t) * V])));
  }

  private score(r: ScoreRequest, logitsRow: (t: number) => [Float32Array, number]): ScoreResult {
    const V = this.model.spec.vocabSize;
    let logprob = 0;
    let greedy = true;
    for (let t = r.from; t < r.tokens.length; t++) {
      const [a, o] = logitsRow(t - 1);
      const { lse, argmax } = rowStats(a, o, V);
      const tok = r.tokens[t]!;
      logprob += a[o + tok]! - lse;
      if (argmax !== tok) greedy = false;
    }
    return { logprob, count: r.tokens.length - r.from, greedy };
  }

  /** Scores sequences that usually share a prefix (one document's choices). */
  group(requests: readonly ScoreRequest[]): ScoreResult[] {
    const V = this.model.spec.vocabSize;
    this.check(requests);
    const score = (r: ScoreRequest, logitsRow: (t: number) => [Float32Array, number]): ScoreResult => this.score(r, logitsRow);
    const longest = Math.max(...requests.map((r) => r.tokens.length - 1));
    const dec = this.decoder(longest);
    if (!dec) {
      return requests.map((r) => {
        const logits = this.model.forward(r.tokens.subarray(0, r.tokens.length - 1));
        this.positions += r.tokens.length - 1;
        return score(r, (t) => [logits, t * V]);
      });
    }
    // the shared prefix, fed once; at least one token of every sequence's input stays in it
    const minInput = Math.min(...requests.map((r) => r.tokens.length - 1));
    const p = Math.min(commonPrefix(requests.map((r) => r.tokens)), minInput);
    dec.rewind!(0);
    const prefix = p > 0 ? this.prefill(dec, requests[0]!.tokens.subarray(0, p)) : new Float32Array(0);
    this.positions += p;
    return requests.map((r) => {
      dec.rewind!(p);
      const rest = r.tokens.subarray(p, r.tokens.length - 1);
      const tail = rest.length ? this.prefill(dec, rest) : new Float32Array(0);
      this.positions += rest.length;
      return score(r, (t) => (t < p ? [prefix, t * V] : [tail, (t - p) * V]));
    });
  }

  private prefill(dec: CausalDecoder, tokens: Int32Array): Float32Array {
    if (dec.prefill) return dec.prefill(tokens);
    const V = this.model.spec.vocabSize;
    const out = new Float32Array(tokens.length * V);
    tokens.forEach((t, i) => out.set(dec.stepBatch(Int32Array.of(t)), i * V));
    return out;
  }
}
