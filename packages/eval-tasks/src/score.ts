// Log-likelihood of token continuations, the one computation every task reduces to (docs/eval/tasks.md,
// "Scoring"). The choices of a document share a prefix (the context, often more): with a decoder that
// can rewind (CausalDecoder.rewind) the prefix is run once and each choice continues from its cache;
// any other CausalLM runs each sequence whole. Both give the same log-probabilities up to float rounding.
import { AutoRoundError, type CausalDecoder, type CausalLM, type DecodingCausalLM } from '@autoround/core';

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
  ) {}

  private decoder(len: number): CausalDecoder | undefined {
    if (!this.sharePrefix || !isDecoding(this.model)) return undefined;
    if (!this.dec || this.decLen < len) {
      this.decLen = Math.max(len, Math.min(this.maxLength, 512));
      this.dec = this.model.decoder(this.decLen, 1);
    }
    return this.dec.rewind ? this.dec : undefined;
  }

  /** Scores sequences that usually share a prefix (one document's choices). */
  group(requests: readonly ScoreRequest[]): ScoreResult[] {
    const V = this.model.spec.vocabSize;
    for (const r of requests) {
      if (!(r.from >= 1 && r.from <= r.tokens.length)) throw new AutoRoundError('E_EVAL', `a scored sequence needs at least one token before the scored ones (from ${r.from}, length ${r.tokens.length})`);
      if (r.tokens.length - 1 > this.maxLength) throw new AutoRoundError('E_SEQLEN', `a task sequence of ${r.tokens.length - 1} input tokens is longer than the model's ${this.maxLength}`);
    }
    const score = (r: ScoreRequest, logitsRow: (t: number) => [Float32Array, number]): ScoreResult => {
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
    };
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
