import { AutoRoundError, type BlockSpec, type BlockwiseCausalLM, type LinearSpec, type LoadOptions, type QuantScheme, type QuantizeSession, fullName, isBlockwise } from '@autoround/core';
import { assertFinite as checkFinite, emitOutsideBlocks } from '@autoround/algo-rtn';

/** The runtime model as a block-by-block runner, or a clear error for architectures that are not. */
export function blockwiseModel(session: QuantizeSession, options?: LoadOptions): BlockwiseCausalLM {
  if (!session.loadModel) throw new AutoRoundError('E_UNSUPPORTED', 'this host cannot load the model for calibration');
  const m = options ? session.loadModel(undefined, options) : session.loadModel();
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

// NaN/inf checks and the layers outside the blocks are algo-rtn's (one check, one emission for every algorithm)
export { checkFinite, emitOutsideBlocks };
export type { LayerQuantizer } from '@autoround/algo-rtn';

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
