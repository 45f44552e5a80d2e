// GGUF layers in the calibrated algorithms: which block type each layer gets (the run's
// --format gguf:* file type, or the layer's GGUF preset), and llama.cpp's quantizer for it fed
// with the importance matrix collected on the block inputs.

import { Graph, type Var } from '@autoround/core-tensor';
import { AutoRoundError, PyRandom, fmt, fullName, type QuantScheme, type QuantizeSession, type QuantizedWeight } from '@autoround/core';
import {
  GGMLType,
  QuantPool,
  type FrozenBlocks,
  type GgufExtra,
  freezeBlocks,
  frozenQdq,
  ggmlTypeName,
  ggufQuantize,
  ggufQuantizedWeight,
  ggufRunLayerTypes,
  ggufScaleGroup,
  hasFrozenLayout,
  importanceFromSums,
  layerGgufType,
  packLevels,
} from '@autoround/export-gguf';
import { rtnQuantize } from '@autoround/algo-rtn';
import { LlamaModel, type LlamaBlockWeights } from '@autoround/models';
import { blockwiseModel, calibrationSamples, checkFinite } from './blockwise.js';
import { IndexSampler, layerLr, signRoundOptions, type SignRoundOptions } from './signround.js';

/** Σx² per input column and the number of rows (tokens) it was summed over, for one linear. */
export interface ActivationSums {
  readonly sumSq: Float64Array;
  tokens: number;
}

export function newActivationSums(inFeatures: number): ActivationSums {
  return { sumSq: new Float64Array(inFeatures), tokens: 0 };
}

/** Adds rows × inFeatures activations to the sums. */
export function accumulate(acc: ActivationSums, x: Float32Array, rows: number, inF: number): void {
  const s = acc.sumSq;
  for (let r = 0; r < rows; r++) {
    const o = r * inF;
    for (let i = 0; i < inF; i++) s[i] += x[o + i]! * x[o + i]!;
  }
  acc.tokens += rows;
}

/**
 * The GGUF layers of a run. With `hasImatrix` the per-layer types follow the mix llama-quantize
 * uses with an importance matrix (it differs only for Q4_0/Q5_0 files), which is also what the
 * gguf exporter plans when the host calibrates.
 */
export class GgufLayers {
  private readonly types: Map<string, GGMLType> | null;
  private pool: QuantPool | undefined;

  constructor(session: QuantizeSession, hasImatrix: boolean) {
    this.types = ggufRunLayerTypes(session, hasImatrix);
  }

  /** The block type of a layer, or null when the layer is not a GGUF one. */
  typeOf(layer: string, scheme: QuantScheme): GGMLType | null {
    return layerGgufType(this.types, layer, scheme);
  }

  /**
   * Quantizes a layer to `type` with llama.cpp's quantizer; with activation sums, through its
   * importance-matrix path (the vector is the per-token mean Σx²/tokens, as llama-imatrix stores it;
   * see importanceFromSums for zero columns).
   */
  quantize(layer: string, scheme: QuantScheme, type: GGMLType, weight: Float32Array, out: number, inF: number, sums?: ActivationSums): QuantizedWeight {
    const im = sums ? importanceFromSums(sums.sumSq, sums.tokens, layer) : null;
    this.pool ??= new QuantPool();
    return ggufQuantizedWeight(scheme, weight, out, inF, type, im, this.pool);
  }

  /** The pool, for callers that quantize themselves. */
  poolForTuning(): QuantPool {
    this.pool ??= new QuantPool();
    return this.pool;
  }

  close(): void {
    this.pool?.close();
    this.pool = undefined;
  }
}

// ------------------------------------------------------------------ tuning (iters > 0)

/** Nominal bits of a block type (for the learning-rate rule of spec §3). */
const TYPE_BITS: Partial<Record<number, number>> = {
  [GGMLType.Q2_K]: 2,
  [GGMLType.Q3_K]: 3,
  [GGMLType.Q4_0]: 4,
  [GGMLType.Q4_1]: 4,
  [GGMLType.Q4_K]: 4,
  [GGMLType.Q5_0]: 5,
  [GGMLType.Q5_1]: 5,
  [GGMLType.Q5_K]: 5,
  [GGMLType.Q6_K]: 6,
  [GGMLType.Q8_0]: 8,
};

/** One GGUF layer being tuned: frozen scales/mins from the iteration-0 search, rounding offsets V. */
interface GgufTunedLayer {
  readonly name: string;
  readonly local: string;
  readonly scheme: QuantScheme;
  readonly weight: Float32Array;
  readonly out: number;
  readonly inF: number;
  readonly frozen: FrozenBlocks;
  readonly imatrix: Float32Array | null;
  readonly lr: number;
  readonly v: Float32Array;
  readonly grad: Float32Array;
  readonly qdq: Float32Array;
  readonly inside: Uint8Array;
  best: Float32Array;
}

/** The weights a linear of the block runs on during tuning: a gradient leaf for tuned layers. */
export type WeightOf = (g: Graph, local: string) => Var;

/**
 * One LLaMA-family decoder block on the autograd tape, the same graph as core-tensor's
 * decoderBlock but with each linear's weight supplied by `weightOf` (the GGUF QDQ of a tuned
 * layer as a leaf whose gradient is read after backward).
 */
export function blockGraph(g: Graph, x: Var, model: LlamaModel, index: number, weightOf: WeightOf, batch: number, T: number): Var {
  const d = model.dims;
  const bw: LlamaBlockWeights = model.blocks[index]!;
  const lin = (input: Var, local: string): Var => {
    const bias = bw.linears.get(local)!.bias;
    const w = weightOf(g, local);
    return g.linear(input, w, bias ? g.input(bias, [w.shape[0]!]) : null);
  };
  const h1 = g.rmsNorm(x, g.input(bw.inputNorm, [d.hidden]), d.eps);
  let q = lin(h1, 'self_attn.q_proj');
  let k = lin(h1, 'self_attn.k_proj');
  const v = lin(h1, 'self_attn.v_proj');
  if (bw.qNorm) q = g.rmsNorm(q, g.input(bw.qNorm, [d.headDim]), d.eps);
  if (bw.kNorm) k = g.rmsNorm(k, g.input(bw.kNorm, [d.headDim]), d.eps);
  const ropeOpts = { headDim: d.headDim, rotaryDim: model.rope.rotDim, seqLen: T };
  q = g.rope(q, model.rope.cos, model.rope.sin, { ...ropeOpts, numHeads: d.heads });
  k = g.rope(k, model.rope.cos, model.rope.sin, { ...ropeOpts, numHeads: d.kvHeads });
  const a = g.attention(q, k, v, { batch, seqLen: T, numHeads: d.heads, numKvHeads: d.kvHeads, headDim: d.headDim });
  const h = g.add(x, lin(a, 'self_attn.o_proj'));
  const n = g.rmsNorm(h, g.input(bw.postNorm, [d.hidden]), d.eps);
  const act = g.swiglu(lin(n, 'mlp.gate_proj'), lin(n, 'mlp.up_proj'));
  return g.add(h, lin(act, 'mlp.down_proj'));
}

function concatRows(parts: Float32Array[], idx: number[], rowLen: number, out: Float32Array): Float32Array {
  idx.forEach((s, k) => out.set(parts[s]!.subarray(0, rowLen), k * rowLen));
  return out;
}

/**
 * SignRound on one block's GGUF layers (spec §5 for the `*_dq` types): the scales and mins stay
 * those of the iteration-0 search (llama.cpp's, with the importance matrix), only V moves, by
 * sign-SGD with the linearly decaying rate; the best iteration's V is kept. `fixed` holds the QDQ
 * weights of the block's quantized layers that are not tuned (float types).
 */
function tuneGgufBlock(
  session: QuantizeSession,
  model: LlamaModel,
  index: number,
  layers: GgufTunedLayer[],
  fixed: ReadonlyMap<string, Float32Array>,
  shapes: ReadonlyMap<string, [number, number]>,
  qIn: Float32Array[],
  refOut: Float32Array[],
  T: number,
  o: SignRoundOptions,
  sampler: IndexSampler,
): { firstLoss: number; bestLoss: number; bestIter: number; seconds: number } {
  const t0 = Date.now();
  const H = model.dims.hidden;
  const bs = Math.min(o.batchSize, qIn.length);
  const gas = o.gradientAccumulateSteps;
  const g = new Graph(session.backend);
  const byLocal = new Map(layers.map((l) => [l.local, l]));
  const bw = model.blocks[index]!;
  const leaves = new Map<string, Var>();
  const weightOf: WeightOf = (gr, local) => {
    const t = byLocal.get(local);
    if (t) {
      let v = leaves.get(local);
      if (!v) leaves.set(local, (v = gr.leaf(t.qdq, [t.out, t.inF])));
      return v;
    }
    const w = fixed.get(local) ?? bw.linears.get(local)!.weight;
    const shape = shapes.get(local);
    if (!shape) throw new AutoRoundError('E_UNSUPPORTED', `block ${index}: no linear "${local}" in the model spec`);
    return gr.input(w, shape);
  };
  const buffers = new Map<number, { x: Float32Array; target: Float32Array; mask: Float32Array }>();
  const buffersFor = (b: number) => {
    let e = buffers.get(b);
    if (!e) {
      // the last position of every sample is always masked out of the loss
      const mask = new Float32Array(b * T).fill(1);
      for (let k = 0; k < b; k++) mask[k * T + T - 1] = 0;
      e = { x: new Float32Array(b * T * H), target: new Float32Array(b * T * H), mask };
      buffers.set(b, e);
    }
    return e;
  };
  let bestLoss = Number.POSITIVE_INFINITY;
  let bestIter = 0;
  let firstLoss = Number.NaN;
  for (let it = 0; it < o.iters; it++) {
    for (const l of layers) {
      frozenQdq(l.frozen, l.weight, l.v, l.qdq, undefined, l.inside);
      l.grad.fill(0);
    }
    const idx = sampler.next();
    let total = 0;
    for (let m = 0; m < idx.length; m += bs) {
      const mb = idx.slice(m, m + bs);
      const { x, target, mask } = buffersFor(mb.length);
      concatRows(qIn, mb, T * H, x);
      concatRows(refOut, mb, T * H, target);
      g.reset();
      leaves.clear();
      const y = blockGraph(g, g.input(x, [mb.length * T, H]), model, index, weightOf, mb.length, T);
      const loss = g.mse(y, target, { mask, reduction: gas === 1 ? 'mean' : 'sum' });
      let value = loss.data[0]!;
      g.backward(g.scale(loss, 1000));
      if (gas > 1) value /= mb.length * T * H;
      total += value;
      // straight-through: ∂y/∂V = s where the rounded value fell inside [lo, hi]
      for (const l of layers) {
        const gw = leaves.get(l.local)!.grad;
        if (!gw) continue;
        const { scale, group } = l.frozen;
        for (let e = 0; e < gw.length; e++) if (l.inside[e]) l.grad[e] = Math.fround(l.grad[e]! + Math.fround(gw[e]! * scale[(e / group) | 0]!));
      }
    }
    if (!Number.isFinite(total)) throw new AutoRoundError('E_NONFINITE', `block ${index}: the tuning loss became ${total} at iteration ${it}`, { subject: `model block ${index}` });
    if (it === 0) firstLoss = total;
    if (o.notUseBestMse ? it === o.iters - 1 : total < bestLoss) {
      bestLoss = total;
      bestIter = it;
      for (const l of layers) l.best = l.v.slice();
    }
    if (o.dynamicMaxGap > 0 && it - bestIter >= o.dynamicMaxGap) break;
    const decay = 1 - it / o.iters;
    for (const l of layers) {
      const lr = l.lr * decay;
      const v = l.v;
      const gr = l.grad;
      for (let e = 0; e < v.length; e++) {
        const s = gr[e]! > 0 ? 1 : gr[e]! < 0 ? -1 : 0;
        if (s !== 0) v[e] = Math.fround(v[e]! - lr * s);
      }
    }
  }
  return { firstLoss, bestLoss, bestIter, seconds: (Date.now() - t0) / 1000 };
}

/**
 * SignRound for GGUF layers (`--iters N` with a GGUF scheme or a --format gguf:* output): block by
 * block, the importance matrix is collected on the block's full-precision inputs, each layer is
 * quantized once by llama.cpp's search for its block type (that fixes the GGUF scales and mins,
 * minmax tuning disabled), then the rounding offsets V of all the block's GGUF layers are tuned
 * against the block's full-precision output; the layer is emitted with the tuned levels under the
 * frozen block headers, so the file holds exactly the tuned QDQ.
 */
export async function runGgufSignRound(session: QuantizeSession, gguf: GgufLayers): Promise<void> {
  const o = signRoundOptions(session.options);
  if (o.iters <= 0) throw new AutoRoundError('E_BAD_FLAG', 'SignRound needs --iters > 0', { subject: '--iters' });
  const samples = await calibrationSamples(session);
  const model = blockwiseModel(session);
  if (!(model instanceof LlamaModel)) throw new AutoRoundError('E_UNSUPPORTED', `SignRound tuning supports the LLaMA family; ${session.spec.architecture} is not`);
  const T = samples[0]!.length;
  if (samples.some((s) => s.length !== T)) throw new AutoRoundError('E_NO_DATASET', 'calibration samples must all have the same length');
  const log = session.log;
  const bs = Math.min(o.batchSize, samples.length);
  const sampler = new IndexSampler(samples.length, Math.min(samples.length, bs * o.gradientAccumulateSteps), new PyRandom(o.seed));
  let fpIn = samples.map((ids) => model.embedTokens(ids));
  let qIn = fpIn;
  const t0 = Date.now();
  const nBlocks = session.spec.blocks.length;
  for (const block of session.spec.blocks) {
    const sums = new Map<string, ActivationSums>();
    for (const l of block.linears) if (session.layerSchemes.get(fullName(block, l))) sums.set(l.name, newActivationSums(l.inFeatures));
    // the full-precision outputs, and the importance matrix on the full-precision inputs (spec §5)
    const refOut = fpIn.map((x) =>
      model.blockForward(block.index, x, T, {
        onLinearInput(name, a, rows, inF) {
          const acc = sums.get(name);
          if (acc) accumulate(acc, a, rows, inF);
        },
      }),
    );
    for (const r of refOut) checkFinite(r, `full-precision output of block ${block.index}`);
    const tuned: GgufTunedLayer[] = [];
    const fixed = new Map<string, Float32Array>();
    for (const l of block.linears) {
      const name = fullName(block, l);
      const scheme = session.layerSchemes.get(name);
      if (!scheme) continue;
      const w = session.checkpoint.readFloat32(`${name}.weight`).data;
      checkFinite(w, `${name}.weight`);
      const type = gguf.typeOf(name, scheme);
      if (type === null) {
        log.warn(`${name}: ${scheme.data_type} is not a GGUF type; quantized with RTN, not tuned`);
        const q = rtnQuantize(w, l.outFeatures, l.inFeatures, scheme);
        session.emit(name, q);
        fixed.set(l.name, q.qdq);
        continue;
      }
      const acc = sums.get(l.name)!;
      const im = importanceFromSums(acc.sumSq, acc.tokens, name);
      const r0 = ggufQuantize(w, l.outFeatures, l.inFeatures, type, im, gguf.poolForTuning());
      if (!hasFrozenLayout(r0.type)) {
        // a float fallback (F16): nothing to tune
        const gx: GgufExtra = { type: r0.type, typeName: ggmlTypeName(r0.type), data: r0.data };
        session.emit(name, { scheme, shape: [l.outFeatures, l.inFeatures], groupSize: l.inFeatures, qdq: r0.qdq, extra: { gguf: gx, ...(im ? { imatrix: im } : {}) } });
        fixed.set(l.name, r0.qdq);
        continue;
      }
      const n = l.outFeatures * l.inFeatures;
      tuned.push({
        name,
        local: l.name,
        scheme,
        weight: w,
        out: l.outFeatures,
        inF: l.inFeatures,
        frozen: freezeBlocks(r0.type, r0.data, n),
        imatrix: im,
        lr: layerLr(o, TYPE_BITS[r0.type] ?? scheme.bits),
        v: new Float32Array(n),
        grad: new Float32Array(n),
        qdq: new Float32Array(n),
        inside: new Uint8Array(n),
        best: new Float32Array(n),
      });
    }
    const overrides = new Map<string, Float32Array>(fixed);
    if (tuned.length > 0) {
      const shapes = new Map(block.linears.map((l) => [l.name, [l.outFeatures, l.inFeatures] as [number, number]]));
      const r = tuneGgufBlock(session, model, block.index, tuned, fixed, shapes, qIn, refOut, T, o, sampler);
      for (const l of tuned) {
        const levels = new Int16Array(l.frozen.n);
        const qdq = frozenQdq(l.frozen, l.weight, l.best, undefined, levels);
        const gx: GgufExtra = { type: l.frozen.type, typeName: ggmlTypeName(l.frozen.type), data: packLevels(l.frozen, levels) };
        const q: QuantizedWeight = { scheme: l.scheme, shape: [l.out, l.inF], groupSize: ggufScaleGroup(l.frozen.type, l.inF), qdq, extra: { gguf: gx, ...(l.imatrix ? { imatrix: l.imatrix } : {}) } };
        session.emit(l.name, q);
        overrides.set(l.local, qdq);
      }
      const elapsed = (Date.now() - t0) / 1000;
      const eta = (elapsed / (block.index + 1)) * (nBlocks - block.index - 1);
      const rate = `${(o.iters / r.seconds).toFixed(1)} it/s`;
      log.info(`block ${block.index + 1}/${nBlocks}: loss iter 0: ${r.firstLoss.toPrecision(6)} -> iter ${r.bestIter}: ${r.bestLoss.toPrecision(6)}, ${rate}, ${r.seconds.toFixed(1)} s, ETA ${fmt(eta)}`);
      session.blockDone?.(block.index, rate);
    } else {
      session.blockDone?.(block.index);
    }
    qIn = o.enableQuantedInput ? qIn.map((x) => model.blockForward(block.index, x, T, { weights: overrides })) : refOut;
    for (const x of qIn) checkFinite(x, `output of quantized block ${block.index}`);
    fpIn = refOut;
  }
  const headName = session.spec.lmHead.replace(/\.weight$/, '');
  const head = session.layerSchemes.get(headName);
  if (head) {
    const w = session.checkpoint.readFloat32(session.spec.lmHead);
    const type = gguf.typeOf(headName, head);
    session.emit(headName, type !== null ? gguf.quantize(headName, head, type, w.data, w.shape[0]!, w.shape[1]!) : rtnQuantize(w.data, w.shape[0]!, w.shape[1]!, head));
  }
}
