// Delta-loss scores (docs/autoscheme.md#scores): the model's LM loss is run forward and backward with every
// scored layer quantized under one option, block by block, so that memory holds the block inputs of the
// calibration samples, the float model and one block's quantized weights and gradients at a time. A layer's
// score is Σ |∂L/∂Ŵ ⊙ (W − Ŵ)|, the first-order estimate of the loss change its quantization causes.

import { AutoRoundError, Graph, type KernelBackend, type Var } from '@autoround/core-tensor';
import { type BlockTunableCausalLM, fullName, type ModelSpec, yieldToEventLoop } from '@autoround/core';

/** Where the scorer reads weights and their quantized versions. */
export interface ScoringModel {
  readonly model: BlockTunableCausalLM;
  readonly spec: ModelSpec;
  readonly backend: KernelBackend;
  /** The float weight [out, in] of a block linear (full name). */
  weight(layer: string): Float32Array;
  /** The quantized-dequantized weight a layer has in this pass, or undefined to keep it in float. */
  qdq(layer: string, weight: Float32Array, out: number, inF: number): Float32Array | undefined;
  /**
   * The QDQ of a layer's input x [rows, in] when its scheme quantizes activations (act_bits ≤ 8), or undefined
   * to keep x: the forward uses it, and the score adds the activation term Σ |∂L/∂x̂ ⊙ (x − x̂)| (spec §10).
   */
  actQdq?(layer: string, x: Float32Array, rows: number, inF: number): Float32Array | undefined;
}

export interface ScoringData {
  /** Token ids, every sample of the same length T ≥ 2. */
  readonly samples: readonly Int32Array[];
  /** Samples per backward graph. */
  readonly batchSize: number;
}

export interface ScoreResult {
  /** Mean next-token cross-entropy of the quantized model over the samples. */
  readonly loss: number;
  /** Layer (full name) → Σ |∂L/∂Ŵ ⊙ (W − Ŵ)|, for every layer that was quantized in the pass. */
  readonly scores: Map<string, number>;
  /** Largest number of floats held for block inputs and gradients (the activations bound). */
  readonly activationFloats: number;
}

/** Called with each quantized layer's gradient of the mean loss, its float weight and its QDQ weight. */
export type GradientSink = (layer: string, grad: Float32Array, weight: Float32Array, qdq: Float32Array) => void;

/** Called per batch with a layer's activation term Σ |∂L/∂x̂ ⊙ (x − x̂)| (layers whose inputs are quantized). */
export type ActivationSink = (layer: string, term: number) => void;

/** The forward's activation hook of block `block` (local names), from the scorer's per-layer QDQ. */
function blockActivations(sm: ScoringModel, prefix: string): ((local: string, x: Float32Array, rows: number, inF: number) => Float32Array) | undefined {
  const f = sm.actQdq;
  if (!f) return undefined;
  return (local, x, rows, inF) => f(`${prefix}.${local}`, x, rows, inF) ?? x;
}

function sampleLength(data: ScoringData): number {
  const T = data.samples[0]?.length ?? 0;
  if (T < 2) throw new AutoRoundError('E_NO_DATASET', 'AutoScheme scoring needs samples of at least 2 tokens', { subject: '--avg_bits' });
  for (const s of data.samples) if (s.length !== T) throw new AutoRoundError('E_SHAPE', `AutoScheme scoring samples must have one length (${T}), got ${s.length}`);
  return T;
}

/** The quantized weights of block `i` by local linear name, with their float weights. */
function blockWeights(sm: ScoringModel, i: number): Map<string, { name: string; w: Float32Array; q: Float32Array; out: number; inF: number }> {
  const block = sm.spec.blocks[i]!;
  const m = new Map<string, { name: string; w: Float32Array; q: Float32Array; out: number; inF: number }>();
  for (const l of block.linears) {
    const name = fullName(block, l);
    const w = sm.weight(name);
    const q = sm.qdq(name, w, l.outFeatures, l.inFeatures);
    if (q) m.set(l.name, { name, w, q, out: l.outFeatures, inF: l.inFeatures });
  }
  return m;
}

/** The next-token targets and the mask (each sample's last position has no target) of samples [from, to). */
function targetsOf(samples: readonly Int32Array[], from: number, to: number, T: number): { targets: Int32Array; mask: Float32Array } {
  const rows = (to - from) * T;
  const targets = new Int32Array(rows);
  const mask = new Float32Array(rows).fill(1);
  for (let s = from; s < to; s++) {
    const ids = samples[s]!;
    const o = (s - from) * T;
    for (let t = 0; t + 1 < T; t++) targets[o + t] = ids[t + 1]!;
    mask[o + T - 1] = 0;
  }
  return { targets, mask };
}

/** The block inputs of every sample: acts[i][s] is block i's input for sample s; acts[numBlocks][s] the last output. */
function forwardAll(sm: ScoringModel, data: ScoringData, T: number, keep: boolean): Float32Array[][] {
  const L = sm.model.numBlocks;
  const acts: Float32Array[][] = [];
  let xs = data.samples.map((ids) => sm.model.embedTokens(ids));
  for (let i = 0; i < L; i++) {
    if (keep) acts.push(xs);
    const bw = blockWeights(sm, i);
    const weights = new Map([...bw].map(([k, v]) => [k, v.q]));
    const activations = blockActivations(sm, sm.spec.blocks[i]!.prefix);
    xs = xs.map((x) => sm.model.blockForward(i, x, T, activations ? { weights, activations } : { weights }));
  }
  acts.push(xs);
  return acts;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

/**
 * The mean next-token loss of the model with the QDQ weights `sm.qdq` gives (forward only); the
 * quantity whose gradient `deltaLossScores` takes, and what the first-order check measures.
 */
export function meanLoss(sm: ScoringModel, data: ScoringData): number {
  const T = sampleLength(data);
  const acts = forwardAll(sm, data, T, false);
  const g = new Graph(sm.backend);
  let total = 0;
  g.withoutGrad(() => {
    const out = acts[acts.length - 1]!;
    for (let s = 0; s < out.length; s++) {
      g.reset();
      const { targets, mask } = targetsOf(data.samples, s, s + 1, T);
      total += g.crossEntropy(sm.model.headGraph(g, g.input(out[s]!, [T, sm.spec.hiddenSize])), targets, mask).data[0]!;
    }
  });
  return total / data.samples.length;
}

/**
 * Forward and backward of the mean LM loss over the samples, block by block; each quantized layer's
 * gradient (∂L/∂Ŵ, summed over the batches of the mean) goes to `sink` once its block is done.
 */
export async function lossGradients(sm: ScoringModel, data: ScoringData, sink: GradientSink, batchSink?: GradientSink, actSink?: ActivationSink): Promise<{ loss: number; activationFloats: number }> {
  const T = sampleLength(data);
  const H = sm.spec.hiddenSize;
  const n = data.samples.length;
  const B = Math.max(1, Math.min(data.batchSize, n));
  const acts = forwardAll(sm, data, T, true);
  const activationFloats = acts.reduce((a, xs) => a + xs.reduce((b, x) => b + x.length, 0), 0);
  const g = new Graph(sm.backend);
  // the gradient of the mean over samples of each sample's mean token loss
  const out = acts.pop()!;
  let up: Float32Array[] = [];
  let loss = 0;
  for (let s = 0; s < n; s += B) {
    const e = Math.min(n, s + B);
    g.reset();
    const h = g.leaf(concat(out.slice(s, e)), [(e - s) * T, H]);
    const { targets, mask } = targetsOf(data.samples, s, e, T);
    // crossEntropy averages over the batch's tokens; every sample has T − 1 of them, so weigh by its share
    const ce = g.crossEntropy(sm.model.headGraph(g, h), targets, mask);
    loss += ce.data[0]! * (e - s);
    g.backward(ce, (e - s) / n);
    for (let k = s; k < e; k++) up.push(h.grad!.slice((k - s) * T * H, (k - s + 1) * T * H));
  }
  for (let i = sm.model.numBlocks - 1; i >= 0; i--) {
    await yieldToEventLoop();
    const bw = blockWeights(sm, i);
    const grads = new Map([...bw.keys()].map((k) => [k, new Float32Array(bw.get(k)!.q.length)]));
    const xs = acts[i]!;
    const down: Float32Array[] = [];
    for (let s = 0; s < n; s += B) {
      const e = Math.min(n, s + B);
      g.reset();
      const x = g.leaf(concat(xs.slice(s, e)), [(e - s) * T, H]);
      const leaves = new Map<string, Var>();
      // each quantized input: the straight-through QDQ node (its gradient is ∂L/∂x̂) and its float input
      const inputs: { local: string; x: Var; xq: Var }[] = [];
      const prefix = sm.spec.blocks[i]!.prefix;
      const y = sm.model.blockGraph(
        g,
        x,
        i,
        {
          weight: (gr, local, _own, shape) => {
            const q = bw.get(local)?.q;
            if (!q) return undefined;
            const v = gr.leaf(q, shape);
            leaves.set(local, v);
            return v;
          },
          ...(sm.actQdq
            ? {
                input: (gr: Graph, local: string, xin: Var) => {
                  const q = sm.actQdq!(`${prefix}.${local}`, xin.data, xin.shape[0]!, xin.shape[1]!);
                  if (!q) return undefined;
                  const xq = gr.straightThrough(xin, (_xd, out) => out.set(q));
                  inputs.push({ local, x: xin, xq });
                  return xq;
                },
              }
            : {}),
        },
        e - s,
        T,
      );
      g.backward(y, concat(up.slice(s, e)));
      for (const [local, v] of leaves) {
        const acc = grads.get(local)!;
        const gv = v.grad;
        if (!gv) continue;
        for (let j = 0; j < acc.length; j++) acc[j]! += gv[j]!;
        if (batchSink) batchSink(bw.get(local)!.name, gv, bw.get(local)!.w, bw.get(local)!.q);
      }
      if (actSink) for (const a of inputs) actSink(`${prefix}.${a.local}`, a.xq.grad ? deltaLoss(a.xq.grad, a.x.data, a.xq.data) : 0);
      for (let k = s; k < e; k++) down.push(x.grad!.slice((k - s) * T * H, (k - s + 1) * T * H));
    }
    for (const [local, v] of bw) sink(v.name, grads.get(local)!, v.w, v.q);
    up = down;
    acts[i] = [];
  }
  return { loss: loss / n, activationFloats };
}

/** Σ |g ⊙ (w − q)| in float64. */
export function deltaLoss(grad: Float32Array, w: Float32Array, q: Float32Array): number {
  let s = 0;
  for (let j = 0; j < grad.length; j++) s += Math.abs(grad[j]! * (w[j]! - q[j]!));
  return s;
}

/**
 * How a layer's score sums over the data: 'gradient' takes |·| of the gradient of the mean loss
 * (Σ|ḡ ⊙ ΔW|), 'batch' sums each batch's own (Σ_b Σ|g_b ⊙ ΔW|, the gradients of the batches' shares of the mean).
 */
export type ScoreReduction = 'gradient' | 'batch';

/**
 * The delta-loss score of every layer `sm.qdq` quantizes, with the quantized model's loss: the weight term
 * under `reduction`, plus, for layers whose inputs `sm.actQdq` quantizes, the activation term. As the original's
 * scoring wrapper, the activation term is the *mean* over batches of Σ|∂L/∂x̂ ⊙ (x − x̂)| (its total_act_score /
 * act_cnt) while the weight term is summed over them (docs/autoscheme.md#scores).
 */
export async function deltaLossScores(sm: ScoringModel, data: ScoringData, reduction: ScoreReduction = 'gradient'): Promise<ScoreResult> {
  const scores = new Map<string, number>();
  const add = (layer: string, v: number) => scores.set(layer, (scores.get(layer) ?? 0) + v);
  const act = new Map<string, { sum: number; batches: number }>();
  const actSink: ActivationSink = (layer, term) => {
    const a = act.get(layer) ?? { sum: 0, batches: 0 };
    act.set(layer, { sum: a.sum + term, batches: a.batches + 1 });
  };
  const { loss, activationFloats } =
    reduction === 'gradient'
      ? await lossGradients(sm, data, (layer, grad, w, q) => add(layer, deltaLoss(grad, w, q)), undefined, actSink)
      : await lossGradients(sm, data, () => undefined, (layer, grad, w, q) => add(layer, deltaLoss(grad, w, q)), actSink);
  for (const [layer, a] of act) add(layer, a.sum / a.batches);
  return { loss, scores, activationFloats };
}
