// The floating-point layers of SignRound (MX, NVFP4, FP8; docs/algorithms/fp-qdq.md#gradients): per quantized linear
// the rounding offsets V and max_scale (β) of the original's fp QDQ, on the one tuning loop (tune.ts). The value is
// quant-types' quantizeFp itself (bit for bit what is exported); the backward applies its straight-through trace.
import { type Graph, type Var, fpQdqKernel } from '@autoround/core-tensor';
import { AutoRoundError, type QuantScheme, type QuantizedWeight } from '@autoround/core';
import { fpTuning } from '@autoround/algo-rtn';
import { type FpQdqTuning, type FpTrace, fpDataTypeOfScheme, fpGeometry, fpKernelDims, type GroupGeometry, quantizeFp, searchFpScale, hasFpOptRtn } from '@autoround/quant-types';
import { imatrixPerSequence } from '../gguf.js';
import { layerLr } from '../loop.js';
import { withActivationRanges } from '../fp.js';
import type { ActivationSums } from '../gguf.js';
import type { Candidate, LayerContext, TunableLayer, TunedTensor } from '../tune.js';

/** V (one offset per padded group slot) and β (one per group) of a floating-point layer, with their gradients. */
export class FpParams {
  readonly geo: GroupGeometry;
  readonly v: Float32Array;
  readonly vGrad: Float32Array;
  readonly beta: Float32Array | null;
  readonly betaGrad: Float32Array | null;

  constructor(
    readonly scheme: QuantScheme,
    readonly out: number,
    readonly inF: number,
    minmaxTuning: boolean,
    /** SignRoundV2: the searched multiplier of each group's maximum (β then in [0, 2]). */
    readonly initScale: Float32Array | null = null,
    /** NVFP4: the fused global scale. */
    readonly globalScale?: number,
  ) {
    this.geo = fpGeometry(scheme, out, inF);
    this.v = new Float32Array(this.geo.nGroups * this.geo.slots);
    this.vGrad = new Float32Array(this.v.length);
    this.beta = minmaxTuning ? new Float32Array(this.geo.nGroups).fill(1) : null;
    this.betaGrad = minmaxTuning ? new Float32Array(this.geo.nGroups) : null;
  }

  /** The values quantizeFp takes. */
  tuning(): FpQdqTuning {
    return { ...fpTuning(this.globalScale), v: this.v, ...(this.beta ? { maxScale: this.beta } : {}), ...(this.initScale ? { initScale: this.initScale } : {}) };
  }
}

/**
 * The autograd op of a floating-point QDQ: value quantizeFp(W; V, β), gradients by the straight-through trace
 * (dL/dV = g·vScale·dx, dL/dβ = Σ g·(q·p + dx·W·u) per group).
 */
export function fpQdqVar(g: Graph, weight: Float32Array, p: FpParams): Var {
  const { out, inF, geo } = p;
  return g.custom([out, inF], true, {
    forward(y, buffers) {
      const n = out * inF;
      const G = geo.nGroups;
      const trace: FpTrace = { q: buffers.float32(n), dx: buffers.float32(n), vScale: buffers.float32(G), p: buffers.float32(G), u: buffers.float32(G) };
      y.set(quantizeFp(weight, out, inF, p.scheme, { ...p.tuning(), trace }).qdq);
      return trace;
    },
    backward(gy, trace) {
      const { vGrad, betaGrad } = p;
      const kernel = fpQdqKernel();
      const dims = kernel ? fpKernelDims(p.scheme, fpDataTypeOfScheme(p.scheme).format, out, inF) : null;
      if (kernel && dims) {
        // the loop below in native code, bit for bit (kernels-cpu fp_qdq.cc)
        kernel.backward(dims, weight, gy, trace.q, trace.dx, trace.vScale, trace.p, trace.u, vGrad, betaGrad);
        return;
      }
      const idx = new Int32Array(geo.slots);
      const { q, dx } = trace;
      for (let grp = 0; grp < geo.nGroups; grp++) {
        const vs = trace.vScale[grp]!;
        const pp = trace.p[grp]!;
        const uu = trace.u[grp]!;
        const off = grp * geo.slots;
        let acc = 0;
        const n = geo.fill(grp, idx);
        for (let k = 0; k < n; k++) {
          const i = idx[k]!;
          const gi = gy[i]!;
          const d = dx[i]!;
          vGrad[off + k]! += gi * vs * d;
          acc += gi * (q[i]! * pp + d * weight[i]! * uu);
        }
        if (betaGrad) betaGrad[grp]! += acc;
      }
    },
  });
}

class FpLayer implements TunableLayer {
  readonly tensors: readonly TunedTensor[];
  readonly dropsOutliers: boolean;
  private best: Float32Array[];

  constructor(
    readonly name: string,
    readonly block: number,
    readonly local: string,
    private readonly w: Float32Array,
    readonly params: FpParams,
    private readonly sums: ActivationSums | undefined,
    lr: number,
    minmaxLr: number,
  ) {
    this.tensors = [{ data: params.v, grad: params.vGrad, lr }, ...(params.beta ? [{ data: params.beta, grad: params.betaGrad!, lr: minmaxLr }] : [])];
    // SignRoundV2: the outlier-suppressed loss when activations are 4-bit or weights below 4 bits
    this.dropsOutliers = params.initScale !== null && (params.scheme.act_bits <= 4 || params.scheme.bits < 4);
    this.best = this.values();
  }

  private values(): Float32Array[] {
    return this.tensors.map((t) => t.data.slice());
  }

  weight(g: Graph): Var {
    return fpQdqVar(g, this.w, this.params);
  }

  clamp(): void {
    const b = this.params.beta;
    if (!b) return;
    const hi = this.params.initScale ? 2 : 1;
    for (let i = 0; i < b.length; i++) b[i] = Math.min(hi, Math.max(0, b[i]!));
  }

  snapshot(): void {
    this.best = this.values();
  }

  choose(which: Candidate): void {
    if (which === 'last') return;
    this.tensors.forEach((t, k) => (which === 'best' ? t.data.set(this.best[k]!) : t.data.fill(t.data === this.params.v ? 0 : 1)));
  }

  qdqOf(which: Candidate): Float32Array {
    const now = this.values();
    this.choose(which);
    const w = quantizeFp(this.w, this.params.out, this.params.inF, this.params.scheme, this.params.tuning()).qdq;
    this.tensors.forEach((t, k) => t.data.set(now[k]!));
    return w;
  }

  emit(): QuantizedWeight {
    const p = this.params;
    return withActivationRanges(quantizeFp(this.w, p.out, p.inF, p.scheme, p.tuning()), this.sums, this.name);
  }
}

/** A tunable floating-point layer (SignRound; SignRoundV2's searched initial scale with enable_alg_ext). */
export function fpTunableLayer(ctx: LayerContext, globalScale: number | undefined): TunableLayer {
  const { o, block, linear: { l, name, scheme, weight }, sums, sequences } = ctx;
  let initScale: Float32Array | null = null;
  if (o.enableAlgExt && hasFpOptRtn(scheme)) {
    if (!sums) throw new AutoRoundError('E_UNSUPPORTED', `${name}: SignRoundV2's initial scale needs the layer's activation sums`);
    initScale = searchFpScale(weight, l.outFeatures, l.inFeatures, scheme, imatrixPerSequence(sums, sequences, name), fpTuning(globalScale));
  }
  const params = new FpParams(scheme, l.outFeatures, l.inFeatures, o.enableMinmaxTuning, initScale, globalScale);
  const lr = layerLr(o, scheme.bits);
  return new FpLayer(name, block.index, l.name, weight, params, sums, lr, o.minmaxLr ?? lr);
}
