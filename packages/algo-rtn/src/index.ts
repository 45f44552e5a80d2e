import { type AlgorithmPlugin, AutoRoundError, definePlugin, fullName, type QuantScheme, type QuantizeSession, type QuantizedWeight, yieldToEventLoop } from '@autoround/core';
import { type GGMLType, QuantPool, ggmlTypeByName, ggmlTypeOfScheme, ggufQuantizedWeight, isGgufDataType, quantizeInt } from '@autoround/quant-types';
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
  throw new AutoRoundError('E_UNSUPPORTED', `RTN for data_type "${scheme.data_type}" is not implemented yet (supported: int and the GGUF types)`, { subject: '--scheme' });
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
  async run(session) {
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
    for (const l of block.linears) {
      const name = fullName(block, l);
      const scheme = session.layerSchemes.get(name);
      if (!scheme) continue;
      const w = session.checkpoint.readFloat32(`${name}.weight`);
      if (w.shape[0] !== l.outFeatures || w.shape[1] !== l.inFeatures) {
        throw new AutoRoundError('E_SHAPE', `${name}.weight has shape [${w.shape.join(', ')}], expected [${l.outFeatures}, ${l.inFeatures}]`, { subject: `${name}.weight` });
      }
      assertFinite(w.data, `${name}.weight`);
      session.emit(name, rtnQuantize(w.data, l.outFeatures, l.inFeatures, scheme, target(name, scheme)));
    }
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
