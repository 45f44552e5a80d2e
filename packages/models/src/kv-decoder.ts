import { AutoRoundError, type CausalDecoder, type KernelBackend, type PackedSequences } from '@autoround/core';
import { type FloatPositions, decodeAttention } from './float-ops.js';
import { applyRope } from './rope.js';

/** How one layer's attention places and weighs its rows (docs/models/sliding-window.md). */
export interface LayerAttention {
  /** cos/sin tables [positions, headDim] and the rotated dims per head. */
  readonly cos: Float32Array;
  readonly sin: Float32Array;
  readonly rotDim: number;
  /** Score scaling (1/√head_dim unless the family says otherwise). */
  readonly scale: number;
  /** Sliding window: a query at position t sees keys t − window + 1 … t; Infinity for full attention. */
  readonly window: number;
  /** Attention logit soft-capping; 0 for none. */
  readonly softcap: number;
}

/** What a model gives the key/value-cache decoder: its sizes, embedding, head and one block over float positions. */
export interface CacheDecodable {
  readonly backend: KernelBackend;
  readonly numBlocks: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly maxPositions: number;
  embedTokens(ids: Int32Array): Float32Array;
  head(x: Float32Array, rows: number): Float32Array;
  /** Layer `block`'s attention for a call whose last position is end − 1 (Phi-3's LongRoPE picks its tables by it). */
  layerAttention(block: number, end: number): LayerAttention;
  /** Block `block` on x with rows placed and attending as `at` says. */
  runBlock(block: number, x: Float32Array, at: FloatPositions): Float32Array;
}

/**
 * Token-by-token decoding with a key/value cache, for every architecture whose block runs on the float
 * operations: each step costs one token's worth of work, so sampling long texts (data-free calibration)
 * stays linear in their length. The blocks are the forward's; only where rows sit (a position offset)
 * and what they attend to (the cache, within the layer's window) differ.
 */
export class KvCacheDecoder implements CausalDecoder {
  private pos = 0;
  private readonly kCache: Float32Array[];
  private readonly vCache: Float32Array[];

  /**
   * `batch` sequences decoded in lockstep (one token each per step, all at the same position): the
   * linears of a step become one product over the batch instead of `batch` vector products.
   */
  constructor(
    private readonly m: CacheDecodable,
    readonly maxLen = m.maxPositions,
    readonly batch = 1,
  ) {
    if (!Number.isInteger(batch) || batch < 1) throw new AutoRoundError('E_BAD_FLAG', `decoder batch must be a positive integer, got ${batch}`);
    const kvw = m.kvHeads * m.headDim;
    this.kCache = Array.from({ length: m.numBlocks }, () => new Float32Array(batch * maxLen * kvw));
    this.vCache = Array.from({ length: m.numBlocks }, () => new Float32Array(batch * maxLen * kvw));
  }

  get position(): number {
    return this.pos;
  }

  /** Forgets the positions from `position` on; the cache before it is kept (CausalDecoder.rewind). */
  rewind(position: number): void {
    if (!Number.isInteger(position) || position < 0 || position > this.pos) throw new AutoRoundError('E_BAD_FLAG', `rewind to ${position}: the decoder is at position ${this.pos}`);
    this.pos = position;
  }

  /** Feeds one token (a decoder of batch 1); returns the logits for the next one. */
  step(token: number): Float32Array {
    return this.stepBatch(Int32Array.of(token));
  }

  /** Feeds one token per sequence; returns the logits for the next ones, [batch, vocab]. */
  stepBatch(tokens: Int32Array): Float32Array {
    if (tokens.length !== this.batch) throw new AutoRoundError('E_BAD_FLAG', `stepBatch: ${tokens.length} tokens for a decoder of batch ${this.batch}`);
    return this.prefill(tokens);
  }

  /**
   * Feeds T tokens per sequence (tokens [batch, T] row-major) at positions position…position+T−1;
   * returns the logits after each, [batch·T, vocab].
   */
  prefill(tokens: Int32Array): Float32Array {
    const B = this.batch;
    if (tokens.length === 0 || tokens.length % B !== 0) throw new AutoRoundError('E_BAD_FLAG', `prefill: ${tokens.length} tokens are not a whole number of tokens for each of ${B} sequences`);
    const T = tokens.length / B;
    const m = this.m;
    const { heads, kvHeads, headDim: hd, maxPositions } = m;
    const t0 = this.pos;
    if (t0 + T > this.maxLen) throw new AutoRoundError('E_SEQLEN', `decoding past ${this.maxLen} positions`);
    if (t0 + T > maxPositions) throw new AutoRoundError('E_SEQLEN', `decoding past max_position_embeddings ${maxPositions}`);
    const kvw = kvHeads * hd;
    const scores = new Float64Array(t0 + T);
    let x = m.embedTokens(tokens);
    for (let b = 0; b < m.numBlocks; b++) {
      const la = m.layerAttention(b, t0 + T);
      const rope = (x: Float32Array, n: number) => {
        // row r·T + s is sequence r's token at position t0 + s
        for (let r = 0; r < B * T; r++) applyRope(x.subarray(r * n * hd, (r + 1) * n * hd), 1, n, hd, la.cos, la.sin, la.rotDim, t0 + (r % T));
      };
      const attention = (q: Float32Array, k: Float32Array, v: Float32Array): Float32Array => {
        const out = new Float32Array(B * T * heads * hd);
        for (let r = 0; r < B; r++) {
          const base = r * this.maxLen * kvw;
          const kc = this.kCache[b]!.subarray(base, base + this.maxLen * kvw);
          const vc = this.vCache[b]!.subarray(base, base + this.maxLen * kvw);
          kc.set(k.subarray(r * T * kvw, (r + 1) * T * kvw), t0 * kvw);
          vc.set(v.subarray(r * T * kvw, (r + 1) * T * kvw), t0 * kvw);
          for (let s = 0; s < T; s++) {
            const row = r * T + s;
            const t = t0 + s;
            const from = Math.max(0, t - la.window + 1);
            decodeAttention(q.subarray(row * heads * hd, (row + 1) * heads * hd), kc, vc, out.subarray(row * heads * hd, (row + 1) * heads * hd), t, heads, heads / kvHeads, hd, kvw, la.scale, scores, from, la.softcap);
          }
        }
        return out;
      };
      x = m.runBlock(b, x, { rope, attention });
    }
    this.pos += T;
    return m.head(x, B * T);
  }
}

/**
 * The whole-sequence attention of one layer on float32 rows (the forward and calibration), the same
 * per-row loop as decoding: q [T, heads·hd], k/v [T, kvHeads·hd].
 */
export function windowedAttention(q: Float32Array, k: Float32Array, v: Float32Array, T: number, heads: number, kvHeads: number, hd: number, la: Pick<LayerAttention, 'scale' | 'window' | 'softcap'>): Float32Array {
  const out = new Float32Array(T * heads * hd);
  const scores = new Float64Array(T);
  const row = heads * hd;
  for (let t = 0; t < T; t++) {
    const from = Math.max(0, t - la.window + 1);
    decodeAttention(q.subarray(t * row, (t + 1) * row), k, v, out.subarray(t * row, (t + 1) * row), t, heads, heads / kvHeads, hd, kvHeads * hd, la.scale, scores, from, la.softcap);
  }
  return out;
}

/**
 * Packed sequences (PackedSequences: rows sharing prefixes as a tree) through the blocks in one pass: every
 * linear is one product over all rows, each row is rotated at its own position, and attention is the
 * backend's fused kernel once per group of rows that attend among themselves, with an additive mask that
 * keeps a row to its ancestors (the scalar loop where the backend has none, or the layer caps its logits).
 * Task scoring packs each document's context once and its choices as branches (docs/eval/tasks.md, "Speed").
 */
export function packedForward(m: CacheDecodable, p: PackedSequences): Float32Array {
  const { tokens, parents } = p;
  const R = tokens.length;
  if (R === 0 || parents.length !== R) throw new AutoRoundError('E_BAD_FLAG', `packed sequences: ${R} tokens and ${parents.length} parents`);
  const pos = new Int32Array(R);
  const root = new Int32Array(R);
  for (let r = 0; r < R; r++) {
    const q = parents[r]!;
    if (!Number.isInteger(q) || q < -1 || q >= r) throw new AutoRoundError('E_BAD_FLAG', `packed sequences: row ${r}'s parent ${q} is not an earlier row`);
    pos[r] = q < 0 ? 0 : pos[q]! + 1;
    root[r] = q < 0 ? r : root[q]!;
  }
  // groups: contiguous row ranges no chain leaves (r starts one where every later row's chain starts at r or after)
  const starts: number[] = [];
  let minRoot = R;
  for (let r = R - 1; r >= 0; r--) {
    minRoot = Math.min(minRoot, root[r]!);
    if (minRoot === r) starts.push(r);
  }
  starts.reverse();
  starts.push(R);
  let end = 0;
  for (let r = 0; r < R; r++) end = Math.max(end, pos[r]! + 1);
  if (end > m.maxPositions) throw new AutoRoundError('E_SEQLEN', `a packed sequence of ${end} positions exceeds max_position_embeddings ${m.maxPositions}`);
  // the additive masks (0 on a row's ancestors and itself, −∞ elsewhere), one [T, T] per group
  const masks = starts.slice(0, -1).map((g0, i) => {
    const T = starts[i + 1]! - g0;
    const mask = new Float32Array(T * T).fill(-Infinity);
    for (let r = 0; r < T; r++) for (let a = g0 + r; a >= g0; a = parents[a]!) mask[r * T + a - g0] = 0;
    return mask;
  });
  const { heads, kvHeads, headDim: hd, backend: be } = m;
  const kvw = kvHeads * hd;
  let x = m.embedTokens(tokens);
  for (let b = 0; b < m.numBlocks; b++) {
    const la = m.layerAttention(b, end);
    if (end > la.window) throw new AutoRoundError('E_UNSUPPORTED', `packed sequences of ${end} positions exceed the sliding window of ${la.window}`);
    const rope = (x: Float32Array, n: number) => {
      for (let r = 0; r < R; r++) applyRope(x.subarray(r * n * hd, (r + 1) * n * hd), 1, n, hd, la.cos, la.sin, la.rotDim, pos[r]!);
    };
    const attention = (q: Float32Array, k: Float32Array, v: Float32Array): Float32Array => {
      const out = new Float32Array(R * heads * hd);
      for (let g = 0; g + 1 < starts.length; g++) {
        const g0 = starts[g]!;
        const T = starts[g + 1]! - g0;
        const rows = (a: Float32Array, w: number) => a.subarray(g0 * w, (g0 + T) * w);
        const og = rows(out, heads * hd);
        if (be.attentionForward && la.softcap === 0) {
          be.attentionForward(rows(q, heads * hd), rows(k, kvw), rows(v, kvw), og, new Float32Array(heads * T), { batch: 1, seqLen: T, numHeads: heads, numKvHeads: kvHeads, headDim: hd, causal: true, scale: la.scale, mask: masks[g]! });
          continue;
        }
        // each row over its own chain, gathered into a contiguous cache in position order
        const kc = new Float32Array(T * kvw);
        const vc = new Float32Array(T * kvw);
        const scores = new Float64Array(T);
        for (let r = 0; r < T; r++) {
          let t = pos[g0 + r]!;
          for (let a = g0 + r; a >= g0; a = parents[a]!, t--) {
            kc.set(k.subarray(a * kvw, (a + 1) * kvw), t * kvw);
            vc.set(v.subarray(a * kvw, (a + 1) * kvw), t * kvw);
          }
          decodeAttention(q.subarray((g0 + r) * heads * hd, (g0 + r + 1) * heads * hd), kc, vc, og.subarray(r * heads * hd, (r + 1) * heads * hd), pos[g0 + r]!, heads, heads / kvHeads, hd, kvw, la.scale, scores, 0, la.softcap);
        }
      }
      return out;
    };
    x = m.runBlock(b, x, { rope, attention });
  }
  const outs = p.outputs;
  if (!outs) return m.head(x, R);
  // the head on the wanted rows only: the logits of a large vocabulary over every row would not fit
  const H = x.length / R;
  const h = new Float32Array(outs.length * H);
  outs.forEach((r, i) => {
    if (!(r >= 0 && r < R)) throw new AutoRoundError('E_BAD_FLAG', `packed sequences: output row ${r} is not one of the ${R} rows`);
    h.set(x.subarray(r * H, (r + 1) * H), i * H);
  });
  return m.head(h, outs.length);
}
