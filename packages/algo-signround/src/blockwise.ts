import { AutoRoundError, type BlockSpec, type BlockwiseCausalLM, type LinearSpec, type QuantScheme, type QuantizeSession, type QuantizedWeight, fullName, isBlockwise } from '@autoround/core';
import { rtnQuantize } from '@autoround/algo-rtn';

/** The runtime model as a block-by-block runner, or a clear error for architectures that are not. */
export function blockwiseModel(session: QuantizeSession): BlockwiseCausalLM {
  if (!session.loadModel) throw new AutoRoundError('E_UNSUPPORTED', 'this host cannot load the model for calibration');
  const m = session.loadModel();
  if (!isBlockwise(m)) throw new AutoRoundError('E_UNSUPPORTED', `${session.spec.architecture} cannot run block by block, which calibration needs`);
  return m;
}

/** Calibration samples, checked against the model's context length. */
export async function calibrationSamples(session: QuantizeSession): Promise<Int32Array[]> {
  if (!session.calibration) throw new AutoRoundError('E_NO_DATASET', 'this algorithm needs calibration data (--dataset), and none is available');
  const samples = await session.calibration();
  if (samples.length === 0) throw new AutoRoundError('E_NO_DATASET', 'the calibration dataset produced no samples of the requested length (lower --seqlen or give more text)', { subject: '--dataset' });
  return samples;
}

/** Stops with the layer's name when a value is NaN or infinite. */
export function checkFinite(a: Float32Array, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) throw new AutoRoundError('E_NONFINITE', `${what} holds a non-finite value (${a[i]}) at element ${i}`, { subject: what });
  }
}

/** How a layer outside the blocks is quantized: name, scheme, weight [out, in]. */
export type LayerQuantizer = (name: string, scheme: QuantScheme, weight: Float32Array, out: number, inF: number) => QuantizedWeight;

/**
 * lm_head, when the layer selection quantizes it: outside the blocks there are no calibration
 * inputs here, so it is quantized from its weight alone (RTN unless `quantize` says otherwise).
 */
export function emitLmHead(session: QuantizeSession, quantize: LayerQuantizer = (_n, s, w, out, inF) => rtnQuantize(w, out, inF, s)): void {
  emitFromWeight(session, session.spec.lmHead, quantize);
}

/**
 * The layers outside the blocks that the selection quantizes, from their weights alone (no
 * calibration inputs, no importance matrix, as the original): the token embedding (in a GGUF run
 * whose --fp_layers / --layer_config name it; never tuned) and lm_head.
 */
export function emitOutsideBlocks(session: QuantizeSession, quantize: LayerQuantizer = (_n, s, w, out, inF) => rtnQuantize(w, out, inF, s)): void {
  emitFromWeight(session, session.spec.embedding, quantize);
  emitLmHead(session, quantize);
}

function emitFromWeight(session: QuantizeSession, tensor: string, quantize: LayerQuantizer): void {
  const name = tensor.replace(/\.weight$/, '');
  const scheme = session.layerSchemes.get(name);
  if (!scheme) return;
  const w = session.checkpoint.readFloat32(tensor);
  checkFinite(w.data, tensor);
  session.emit(name, quantize(name, scheme, w.data, w.shape[0]!, w.shape[1]!));
}

/** A linear of a block that the layer selection quantizes, with its float weight [out, in]. */
export interface QuantizedLinear {
  readonly l: LinearSpec;
  /** Full layer name ("model.layers.0.mlp.up_proj"). */
  readonly name: string;
  readonly scheme: QuantScheme;
  readonly weight: Float32Array;
}

/** The block's linears that have a scheme, in the spec's order, each weight read and checked finite. */
export function* quantizedLinears(session: QuantizeSession, block: BlockSpec): Generator<QuantizedLinear> {
  for (const l of block.linears) {
    const name = fullName(block, l);
    const scheme = session.layerSchemes.get(name);
    if (!scheme) continue;
    const weight = session.checkpoint.readFloat32(`${name}.weight`).data;
    checkFinite(weight, `${name}.weight`);
    yield { l, name, scheme, weight };
  }
}
