import { type ActivationQdq, type AlgorithmPlugin, AutoRoundError, definePlugin, fullName, type QuantScheme, type QuantizeSession, type QuantizedWeight, yieldToEventLoop } from '@autoround/core';
import {
  checkActivationScheme,
  checkFpLayout,
  type FpQdqTuning,
  fusedGlobalScales,
  type GGMLType,
  QuantPool,
  fpDataTypeOf,
  ggmlTypeByName,
  ggmlTypeOfScheme,
  ggufQuantizedWeight,
  isFpScheme,
  isGgufDataType,
  needsActivationMax,
  quantizeActivation,
  quantizeFp,
  quantizeInt,
  quantizesActivations,
} from '@autoround/quant-types';
import { assertFinite } from '@autoround/core-tensor';

/** How a layer of a GGUF run is quantized: its block type, and the importance vector if any. */
export interface GgufTarget {
  readonly type: GGMLType;
  readonly imatrix?: Float32Array | null;
  /** Worker threads for big layers (results are identical without). */
  readonly pool?: QuantPool;
}

/**
 * Quantizes one weight with plain round-to-nearest under `scheme`. GGUF schemes (and any layer
 * given a `gguf` target) run llama.cpp's quantizer for the block type and emit its dequantized
 * weight as `qdq`, with the block bytes in `blocks`.
 */
export function rtnQuantize(weight: Float32Array, out: number, inF: number, scheme: QuantScheme, gguf?: GgufTarget): QuantizedWeight {
  if (gguf) return ggufQuantizedWeight(scheme, weight, out, inF, gguf.type, gguf.imatrix ?? null, gguf.pool);
  if (isGgufDataType(scheme.data_type)) {
    const type = ggmlTypeOfScheme(scheme);
    if (type === null) throw new AutoRoundError('E_UNSUPPORTED', `no GGUF type has data_type "${scheme.data_type}" with ${scheme.bits} bits`, { subject: '--scheme' });
    return ggufQuantizedWeight(scheme, weight, out, inF, type);
  }
  if (scheme.data_type === 'int') return quantizeInt(weight, out, inF, scheme);
  if (isFpScheme(scheme)) return quantizeFp(weight, out, inF, scheme);
  throw new AutoRoundError('E_UNSUPPORTED', `RTN for data_type "${scheme.data_type}" with ${scheme.bits} bits is not implemented (supported: int, the GGUF types, mx_fp, mx_int, nv_fp, nvfp4_v2, fp 8)`, { subject: '--scheme' });
}

/**
 * Checks a layer's scheme before any work (docs/algorithms/fp-qdq.md#types): floating-point group layouts
 * (E_GROUP_SIZE naming the layer) and the activation fields.
 */
export function checkLayerScheme(scheme: QuantScheme, out: number, inF: number, layer: string): void {
  if (isFpScheme(scheme)) checkFpLayout(scheme, out, inF, layer);
  checkActivationScheme(scheme, layer);
}

/** Every layer of a run checked (checkLayerScheme) before the first is quantized. */
export function checkLayerSchemes(session: Pick<QuantizeSession, 'spec' | 'layerSchemes'>): void {
  for (const block of session.spec.blocks) {
    for (const l of block.linears) {
      const name = fullName(block, l);
      const scheme = session.layerSchemes.get(name);
      if (scheme) checkLayerScheme(scheme, l.outFeatures, l.inFeatures, name);
    }
  }
}

/**
 * NVFP4's weight global scale of each nv_fp layer of a block after the fused-layer rule (q/k/v and gate/up share
 * the minimum; docs/algorithms/fp-qdq.md#nvfp4-per-group-of-16), keyed by local name; empty without nv_fp layers.
 */
export function blockGlobalScales(weights: ReadonlyMap<string, { readonly scheme: QuantScheme; readonly weight: Float32Array }>): Map<string, number> {
  const nv = new Map<string, Float32Array>();
  for (const [local, { scheme, weight }] of weights) {
    const t = isFpScheme(scheme) ? fpDataTypeOf(scheme.data_type, scheme.bits) : null;
    if (t?.format.name === 'nv_fp4') nv.set(local, weight);
  }
  return nv.size ? fusedGlobalScales(nv) : new Map();
}

/** The tuning values of a floating-point layer: its fused global scale, if any. */
export function fpTuning(globalScale: number | undefined): FpQdqTuning {
  return globalScale !== undefined ? { globalScale } : {};
}

/**
 * The activation quantization of quantized layers (by full name): each layer's scheme's act_* fields with its
 * calibrated maximum; undefined when none quantizes activations (docs/algorithms/fp-qdq.md#activations).
 */
export function activationQdqOf(layers: ReadonlyMap<string, Pick<QuantizedWeight, 'scheme' | 'actMax'>>): ActivationQdq | undefined {
  const acting = new Map<string, Pick<QuantizedWeight, 'scheme' | 'actMax'>>();
  for (const [name, q] of layers) if (quantizesActivations(q.scheme)) acting.set(name, q);
  if (acting.size === 0) return undefined;
  // q/k/v (and gate/up) read the same input under the same scheme: the last result is reused for the same array
  let last: { x: Float32Array; rows: number; scheme: QuantScheme; actMax: number | undefined; y: Float32Array } | null = null;
  return (layer, x, rows, inF) => {
    const q = acting.get(layer);
    if (!q) return x;
    if (last && last.x === x && last.rows === rows && last.scheme === q.scheme && last.actMax === q.actMax) return last.y;
    const y = quantizeActivation(x, rows, inF, q.scheme, q.actMax);
    last = { x, rows, scheme: q.scheme, actMax: q.actMax, y };
    return y;
  };
}

/**
 * The GGUF type a layer is quantized to: the one its output format fixed (`session.quantTypes`, a
 * --format gguf:* file's mix) when there is one, else the layer's GGUF preset scheme's; null for
 * non-GGUF layers.
 */
export function layerQuantType(session: Pick<QuantizeSession, 'quantTypes'>, layer: string, scheme: QuantScheme): GGMLType | null {
  const name = session.quantTypes?.get(layer);
  if (name === undefined) return ggmlTypeOfScheme(scheme, false);
  const type = ggmlTypeByName(name);
  if (type === undefined) throw new AutoRoundError('E_UNSUPPORTED', `${layer}: the output format asks for quantization type ${name}, which no quantizer here implements`, { subject: layer });
  return type;
}

/**
 * Plain RTN: each quantized linear is read, quantized and handed on, one tensor at a time,
 * without building the model (the original's "model-free" mode).
 */
export const rtnAlgorithm: AlgorithmPlugin = {
  name: 'rtn',
  description: 'round-to-nearest (iters 0); streams the checkpoint tensor by tensor',
  needsCalibration: () => false,
  activations: activationQdqOf,
  async run(session) {
    checkLayerSchemes(session);
    for (const s of new Set(session.layerSchemes.values())) {
      if (s && needsActivationMax(s)) {
        throw new AutoRoundError('E_UNSUPPORTED', `plain RTN without calibration cannot set the static activation scales of act_data_type "${s.act_data_type}" (act_dynamic ${s.act_dynamic}); the calibrated RTN of @autoround/algo-signround does (install it)`, { subject: '--scheme' });
      }
    }
    // a --format gguf:* run: every layer gets the block type that file stores for it
    const pool = session.quantTypes?.size ? new QuantPool() : undefined;
    const target = (name: string, scheme: QuantScheme): GgufTarget | undefined => {
      const type = layerQuantType(session, name, scheme);
      return type === null ? undefined : { type, ...(pool ? { pool } : {}) };
    };
    try {
      await runRtn(session, target);
    } finally {
      pool?.close();
    }
  },
};

async function runRtn(session: QuantizeSession, target: (name: string, scheme: QuantScheme) => GgufTarget | undefined): Promise<void> {
  for (const block of session.spec.blocks) {
    await yieldToEventLoop();
    const read = new Map<string, { scheme: QuantScheme; weight: Float32Array; name: string; out: number; inF: number }>();
    for (const l of block.linears) {
      const name = fullName(block, l);
      const scheme = session.layerSchemes.get(name);
      if (!scheme) continue;
      const w = session.checkpoint.readFloat32(`${name}.weight`);
      if (w.shape[0] !== l.outFeatures || w.shape[1] !== l.inFeatures) {
        throw new AutoRoundError('E_SHAPE', `${name}.weight has shape [${w.shape.join(', ')}], expected [${l.outFeatures}, ${l.inFeatures}]`, { subject: `${name}.weight` });
      }
      assertFinite(w.data, `${name}.weight`);
      read.set(l.name, { scheme, weight: w.data, name, out: l.outFeatures, inF: l.inFeatures });
      // one tensor at a time, except NVFP4's fused layers, which need each other's global scales; a layer
      // whose output format fixes its block type (gguf:mxfp4 → MXFP4 blocks) takes that type's quantizer
      const gguf = target(name, scheme);
      if (!isFpScheme(scheme) || gguf) {
        session.emit(name, rtnQuantize(w.data, l.outFeatures, l.inFeatures, scheme, gguf));
        read.delete(l.name);
      }
    }
    const global = blockGlobalScales(read);
    for (const [local, r] of read) session.emit(r.name, quantizeFp(r.weight, r.out, r.inF, r.scheme, fpTuning(global.get(local))));
    session.blockDone?.(block.index);
  }
  emitOutsideBlocks(session, (name, scheme, w, out, inF) => rtnQuantize(w, out, inF, scheme, target(name, scheme)));
}

/** How a layer outside the blocks is quantized: name, scheme, weight [out, in]. */
export type LayerQuantizer = (name: string, scheme: QuantScheme, weight: Float32Array, out: number, inF: number) => QuantizedWeight;

/**
 * The layers outside the blocks that the selection quantizes, from their weights alone (no
 * calibration inputs, no importance matrix, as the original): the token embedding (in a GGUF run
 * whose --fp_layers / --layer_config name it; never tuned) and lm_head. RTN unless `quantize`
 * says otherwise.
 */
export function emitOutsideBlocks(session: QuantizeSession, quantize: LayerQuantizer = (_n, s, w, out, inF) => rtnQuantize(w, out, inF, s)): void {
  for (const tensor of [session.spec.embedding, session.spec.lmHead]) {
    const name = tensor.replace(/\.weight$/, '');
    const scheme = session.layerSchemes.get(name);
    if (!scheme) continue;
    const w = session.checkpoint.readFloat32(tensor);
    assertFinite(w.data, tensor);
    session.emit(name, quantize(name, scheme, w.data, w.shape[0]!, w.shape[1]!));
  }
}

// one home for the finiteness check (core-tensor), shared with the host's check of the tensors it copies
export { assertFinite };

export const rtnPlugin = definePlugin({ name: '@autoround/algo-rtn', algorithms: [rtnAlgorithm] });
export default rtnPlugin;
