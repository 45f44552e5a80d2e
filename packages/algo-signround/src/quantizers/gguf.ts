// The GGUF frozen-scale tunable quantizer of SignRound (docs/algorithms/gguf-tuning.md#frozen-scales): each GGUF
// layer is quantized once by llama.cpp's search for its block type with the importance matrix (which fixes the
// scales and mins: no minmax tuning), only the rounding offsets V move, with the straight-through gradient
// under the frozen headers; the layer is emitted with the tuned levels packed under those headers.

import type { Graph, Var } from '@autoround/core-tensor';
import type { QuantizedWeight, QuantScheme } from '@autoround/core';
import { type FrozenBlocks, freezeBlocks, frozenQdq, ggufQuantize, ggufWeight, hasFrozenLayout, importanceFromSums, packLevels, quantTypeOf } from '@autoround/quant-types';
import { rtnQuantize } from '@autoround/algo-rtn';
import type { GgufLayers } from '../gguf.js';
import { layerLr, type SignRoundOptions } from '../loop.js';
import type { Candidate, LayerContext, TunableLayer, TunableQuantizer } from '../tune.js';

/** One GGUF layer being tuned: frozen scales/mins from the iteration-0 search, rounding offsets V. */
class GgufLayer implements TunableLayer {
  readonly tensors;
  readonly dropsOutliers: boolean;
  private readonly v: Float32Array;
  private readonly grad: Float32Array;
  /** The QDQ of the current V (begin), and where its rounding fell inside the levels' range. */
  private readonly qdq: Float32Array;
  private readonly inside: Uint8Array;
  private best: Float32Array;
  /** The V emit() writes: the current one, or what choose() picked (null: iteration 0). */
  private kept: Float32Array | null;

  constructor(
    readonly name: string,
    readonly block: number,
    readonly local: string,
    private readonly scheme: QuantScheme,
    private readonly w: Float32Array,
    private readonly out: number,
    private readonly inF: number,
    private readonly frozen: FrozenBlocks,
    private readonly imatrix: Float32Array | null,
    bits: number,
    o: SignRoundOptions,
  ) {
    const n = frozen.n;
    this.v = new Float32Array(n);
    this.grad = new Float32Array(n);
    this.qdq = new Float32Array(n);
    this.inside = new Uint8Array(n);
    this.best = new Float32Array(n);
    this.kept = this.v;
    this.tensors = [{ data: this.v, grad: this.grad, lr: layerLr(o, bits) }];
    // the loop already is the original's alg_ext path for the double-quant types (scales and mins of the
    // iteration-0 search frozen, only V tuned); enable_alg_ext adds its outlier-suppressed loss below 4 bits
    this.dropsOutliers = o.enableAlgExt && bits < 4;
  }

  begin(): void {
    frozenQdq(this.frozen, this.w, this.v, this.qdq, undefined, this.inside);
  }

  weight(g: Graph): Var {
    const { qdq, inside, grad, frozen } = this;
    return g.custom([this.out, this.inF], true, {
      forward: (y) => void y.set(qdq),
      // straight-through: ∂y/∂V = s where the rounded value fell inside [lo, hi]
      backward(gw) {
        const { scale, group } = frozen;
        for (let e = 0; e < gw.length; e++) if (inside[e]) grad[e] = Math.fround(grad[e]! + Math.fround(gw[e]! * scale[(e / group) | 0]!));
      },
    });
  }

  snapshot(): void {
    this.best = this.v.slice();
  }

  private vOf(which: Candidate): Float32Array | null {
    return which === 'initial' ? null : which === 'best' ? this.best : this.v;
  }

  qdqOf(which: Candidate): Float32Array {
    return frozenQdq(this.frozen, this.w, this.vOf(which));
  }

  choose(which: Candidate): void {
    this.kept = this.vOf(which) ?? new Float32Array(this.frozen.n);
  }

  emit(): QuantizedWeight {
    const levels = new Int16Array(this.frozen.n);
    const qdq = frozenQdq(this.frozen, this.w, this.kept, undefined, levels);
    return ggufWeight(this.scheme, this.out, this.inF, this.frozen.type, packLevels(this.frozen, levels), qdq, this.imatrix);
  }
}

/**
 * The GGUF frozen-scale quantizer. Two properties differ from the int one, each because of bytes already
 * pinned: the whole-calibration settle among iteration 0, the best iteration and the last step (iteration 0 is
 * llama.cpp's own search, which the tuned file must never be worse than), and the next group's inputs on the
 * model's float blockForward (the graph only with tuned norms and biases).
 */
export function ggufQuantizer(gguf: GgufLayers): TunableQuantizer {
  return {
    kind: 'gguf',
    settlesOnCalibration: true,
    forwardOnGraph: false,
    // the importance matrix of llama.cpp's search, on the full-precision inputs
    collectsActivations: () => true,
    outside: (n, s, w, out, inF) => gguf.quantizeOrRtn(n, s, w, out, inF),
    // an expert with too few routed tokens: llama.cpp's importance-matrix search alone (iteration 0 of the tuning)
    fallback({ linear: { l, name, scheme, weight: w }, sums }: LayerContext) {
      const type = gguf.typeOf(name, scheme);
      if (type === null) return rtnQuantize(w, l.outFeatures, l.inFeatures, scheme);
      return gguf.quantize(name, scheme, type, w, l.outFeatures, l.inFeatures, sums && sums.tokens > 0 ? sums : undefined);
    },
    layer({ session, o, block, linear: { l, name, scheme, weight: w }, sums }: LayerContext) {
      const type = gguf.typeOf(name, scheme);
      if (type === null) {
        session.log.warn(`${name}: ${scheme.data_type} is not a GGUF type; quantized with RTN, not tuned`);
        return { fixed: rtnQuantize(w, l.outFeatures, l.inFeatures, scheme) };
      }
      const im = importanceFromSums(sums!.sumSq, sums!.tokens, name);
      const r0 = ggufQuantize(w, l.outFeatures, l.inFeatures, type, im, gguf.poolForTuning());
      // a float fallback (F16): nothing to tune
      if (!hasFrozenLayout(r0.type)) return { fixed: ggufWeight(scheme, l.outFeatures, l.inFeatures, r0.type, r0.data, r0.qdq, im) };
      const n = l.outFeatures * l.inFeatures;
      const bits = quantTypeOf(r0.type).nominalBits ?? scheme.bits;
      return new GgufLayer(name, block.index, l.name, scheme, w, l.outFeatures, l.inFeatures, freezeBlocks(r0.type, r0.data, n), im, bits, o);
    },
  };
}
