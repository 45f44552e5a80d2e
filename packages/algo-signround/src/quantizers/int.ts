// The int tunable quantizer of SignRound (docs/algorithms/signround.md): per quantized linear the rounding offsets V
// and the min/max scales alpha/beta of AutoRound's int QDQ (QdqParams and its autograd op qdqVar, int-qdq.ts), SignRoundV2's
// importance-searched initial scale with max_scale in [0, 2] (enable_alg_ext), quantizeInt of the kept parameters.

import type { Graph, Var } from '@autoround/core-tensor';
import { QdqParams, qdqVar, quantizeDequantize } from './int-qdq.js';
import { isIntWeightOnly, type QuantScheme, scaleDtypeOf } from '@autoround/core';
import { rtnQuantize } from '@autoround/algo-rtn';
import { isFpScheme, quantizeInt, quantizeIntOptRtn } from '@autoround/quant-types';
import { quantizedLinears } from '../blockwise.js';
import { blockFpGlobalScales } from '../fp.js';
import { fpTunableLayer } from './fp.js';
import { imatrixPerSequence } from '../gguf.js';
import { layerLr, type SignRoundOptions } from '../loop.js';
import type { Candidate, LayerContext, TunableLayer, TunableQuantizer } from '../tune.js';


/** SignRoundV2's scale init applies to symmetric int with groups (docs/algorithms/signround.md#signroundv2-enable-alg-ext); other layers tune as usual. */
export function usesAlgExt(s: QuantScheme): boolean {
  return isIntWeightOnly(s) && s.sym && s.group_size !== 0;
}

/** One int layer: its QdqParams (V, alpha, beta), the best iteration's values. */
class IntLayer implements TunableLayer {
  readonly tensors;
  readonly dropsOutliers: boolean;
  private best: Float32Array[];

  constructor(
    readonly name: string,
    readonly block: number,
    readonly local: string,
    private readonly scheme: QuantScheme,
    private readonly w: Float32Array,
    readonly params: QdqParams,
    lr: number,
    minmaxLr: number,
  ) {
    this.tensors = params.params().map((p) => ({ data: p.data, grad: p.grad, lr: p === params.v ? lr : minmaxLr }));
    // SignRoundV2 below 4 bits: the loss leaves out the 0.1% largest errors of each micro-batch
    this.dropsOutliers = params.initScale !== null && params.bits < 4;
    this.best = this.values();
  }

  private values(): Float32Array[] {
    return this.params.params().map((p) => p.data.slice());
  }

  weight(g: Graph): Var {
    return qdqVar(g, this.w, this.params);
  }

  clamp(): void {
    // max_scale may double an importance-searched scale (SignRoundV2), else [0, 1] as the original
    this.params.clampMinMax(0, this.params.initScale ? 2 : 1);
  }

  snapshot(): void {
    this.best = this.values();
  }

  choose(which: Candidate): void {
    if (which === 'last') return;
    // iteration 0: V = 0, alpha = beta = 1
    this.params.params().forEach((p, k) => (which === 'best' ? p.data.set(this.best[k]!) : p.data.fill(p === this.params.v ? 0 : 1)));
  }

  qdqOf(which: Candidate): Float32Array {
    const now = this.values();
    this.choose(which);
    const w = quantizeDequantize(this.w, this.params).weight;
    this.params.params().forEach((p, k) => p.data.set(now[k]!));
    return w;
  }

  emit() {
    const p = this.params;
    return quantizeInt(this.w, p.layout.outFeatures, p.layout.inFeatures, this.scheme, {
      v: p.v.data,
      ...(p.alpha ? { minScale: p.alpha.data } : {}),
      ...(p.beta ? { maxScale: p.beta.data } : {}),
      ...(p.initScale ? { initScale: p.initScale } : {}),
    });
  }
}

/**
 * The int quantizer: int layers tune (weight-only, or with W8A8's int activations), floating-point layers tune
 * through quantizers/fp.ts, others are quantized with RTN beside them. It keeps the
 * original's best-iteration rule (no settle) and computes the next group's inputs on the autograd graph, as
 * the original's int path did (the bytes of every int output are pinned by the golden hashes).
 */
export function intQuantizer(): TunableQuantizer {
  // NVFP4's fused global scales, per block (computed once from the block's weights)
  const globalScales = new Map<number, Map<string, number>>();
  return {
    kind: 'int',
    settlesOnCalibration: false,
    forwardOnGraph: true,
    // SignRoundV2's initial scale is searched with the importance matrix of the full-precision inputs
    collectsActivations: (o: SignRoundOptions) => o.enableAlgExt,
    layer(ctx: LayerContext) {
      const { o, block, linear: { l, name, scheme, weight }, sums, sequences } = ctx;
      // floating-point layers (MX, NVFP4, FP8) tune V and β of their own QDQ (quantizers/fp.ts)
      if (isFpScheme(scheme)) {
        let gs = globalScales.get(block.index);
        if (!gs) globalScales.set(block.index, (gs = blockFpGlobalScales([...quantizedLinears(ctx.session, block)])));
        return fpTunableLayer(ctx, gs.get(l.name));
      }
      // int weights tune with or without activation quantization (W8A8's dynamic int activations)
      if (!(scheme.data_type === 'int' && scheme.bits < 16)) return { fixed: rtnQuantize(weight, l.outFeatures, l.inFeatures, scheme) };
      let initScale: Float32Array | undefined;
      if (sums && usesAlgExt(scheme)) {
        const im = imatrixPerSequence(sums, sequences, name);
        initScale = quantizeIntOptRtn(weight, l.outFeatures, l.inFeatures, scheme, im).scales;
      }
      const params = new QdqParams(weight, l.outFeatures, l.inFeatures, {
        bits: scheme.bits,
        groupSize: scheme.group_size,
        sym: scheme.sym,
        scaleDtype: scaleDtypeOf(scheme),
        minmaxTuning: o.enableMinmaxTuning,
        ...(initScale ? { initScale } : {}),
      });
      const lr = layerLr(o, scheme.bits);
      return new IntLayer(name, block.index, l.name, scheme, weight, params, lr, o.minmaxLr ?? lr);
    },
  };
}
