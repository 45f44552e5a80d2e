// enable_norm_bias_tuning (experimental in the original): the norm weights of each block and the
// biases of its linears get a tunable offset (core-tensor's TunedVector, the 4-bit per-tensor QDQ
// without rounding), tuned with the block's rounding offsets; the changed tensors replace the
// source's in every output.

import { type BlockSpec, type ModelSpec, type QuantizeOptions, type QuantizeSession, AutoRoundError } from '@autoround/core';
import { type BlockNormName, type Param, TunedVector } from '@autoround/core-tensor';
import type { LlamaModel } from '@autoround/models';

export type NormKey = BlockNormName;

const NORM_TENSOR: Record<NormKey, string> = {
  inputNorm: 'input_layernorm.weight',
  postNorm: 'post_attention_layernorm.weight',
  qNorm: 'self_attn.q_norm.weight',
  kNorm: 'self_attn.k_norm.weight',
};

/** One block's tuned norms and biases. */
export interface BlockNormBias {
  readonly norms: Partial<Record<NormKey, TunedVector>>;
  /** By linear name ("self_attn.q_proj"). */
  readonly biases: Map<string, TunedVector>;
  /** Offsets of the best iteration, in params() order. */
  best: Float32Array[];
}

function blockTensorNames(block: BlockSpec): { norms: [NormKey, string][]; biases: [string, string][] } {
  const has = new Set(block.tensors);
  const norms = (Object.keys(NORM_TENSOR) as NormKey[]).map((k) => [k, `${block.prefix}.${NORM_TENSOR[k]}`] as [NormKey, string]).filter(([, n]) => has.has(n));
  const biases = block.linears.map((l) => [l.name, `${block.prefix}.${l.name}.bias`] as [string, string]).filter(([, n]) => has.has(n));
  return { norms, biases };
}

/** Every tensor a run with enable_norm_bias_tuning replaces: the blocks' norm weights and linear biases. */
export function normBiasTensorNames(spec: ModelSpec): string[] {
  return spec.blocks.flatMap((b) => {
    const { norms, biases } = blockTensorNames(b);
    return [...norms.map(([, n]) => n), ...biases.map(([, n]) => n)];
  });
}

/** AlgorithmPlugin.replacesTensors of the tuning algorithms (int and GGUF paths): the norms and biases, when they are tuned. */
export function normBiasReplacedTensors(options: QuantizeOptions, spec: ModelSpec): string[] {
  return options.enableNormBiasTuning === true && options.iters > 0 ? normBiasTensorNames(spec) : [];
}

/** Fresh offsets (V = 0) for one block's norms and biases. */
export function blockNormBias(model: LlamaModel, block: BlockSpec): BlockNormBias {
  const bw = model.blocks[block.index]!;
  const { norms, biases } = blockTensorNames(block);
  const out: BlockNormBias = { norms: {}, biases: new Map(), best: [] };
  for (const [k] of norms) {
    const w = bw[k];
    if (!w) throw new AutoRoundError('E_UNSUPPORTED', `block ${block.index}: the model has no ${NORM_TENSOR[k]} to tune`);
    out.norms[k] = new TunedVector(w);
  }
  for (const [local] of biases) {
    const b = bw.linears.get(local)?.bias;
    if (b) out.biases.set(local, new TunedVector(b));
  }
  return out;
}

export function normBiasParams(nb: BlockNormBias): Param[] {
  return [...Object.values(nb.norms).map((t) => t.v), ...[...nb.biases.values()].map((t) => t.v)];
}

/** Hands the block's norms and biases to the exporters: tuned (`nb`) or, for a block that was not tuned, as they are. */
export function emitNormBias(session: QuantizeSession, model: LlamaModel, block: BlockSpec, nb: BlockNormBias | null): void {
  if (!session.emitTensor) throw new AutoRoundError('E_UNSUPPORTED', 'this host cannot write tuned norms and biases (no emitTensor)');
  const bw = model.blocks[block.index]!;
  const { norms, biases } = blockTensorNames(block);
  for (const [k, name] of norms) session.emitTensor(name, nb?.norms[k]?.value() ?? bw[k]!);
  for (const [local, name] of biases) session.emitTensor(name, nb?.biases.get(local)?.value() ?? bw.linears.get(local)!.bias!);
}
