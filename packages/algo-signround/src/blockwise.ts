import { AutoRoundError, type BlockwiseCausalLM, type QuantizeSession, isBlockwise } from '@autoround/core';

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
