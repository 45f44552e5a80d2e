// enable_norm_bias_tuning (experimental in the original): the norm weights of each block and the
// biases of its linears get a tunable offset (TunedVector (tuned-vector.ts), the 4-bit per-tensor QDQ
// without rounding), tuned with the block's rounding offsets; the changed tensors replace the
// source's in every output.

import { type BlockGraphInject, type BlockSpec, type BlockTunableCausalLM, type ModelSpec, type QuantizeOptions, type QuantizeSession, AutoRoundError } from '@autoround/core';
import type { Param } from '@autoround/core-tensor';
import { TunedVector, tunedVectorVar } from './tuned-vector.js';

/** One block's tuned norms and biases. */
export interface BlockNormBias {
  /** By norm name within the block ("input_layernorm"). */
  readonly norms: Map<string, TunedVector>;
  /** By linear name ("self_attn.q_proj"). */
  readonly biases: Map<string, TunedVector>;
  /** Offsets of the best iteration, in params() order. */
  best: Float32Array[];
}

/** The block's norms and biases as [name within the block, full tensor name], in the spec's order. */
function blockTensorNames(block: BlockSpec): { norms: [string, string][]; biases: [string, string][] } {
  const has = new Set(block.tensors);
  const norms = (block.norms ?? []).map((n) => [n, `${block.prefix}.${n}.weight`] as [string, string]).filter(([, n]) => has.has(n));
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
export function blockNormBias(model: BlockTunableCausalLM, block: BlockSpec): BlockNormBias {
  const { norms, biases } = blockTensorNames(block);
  const out: BlockNormBias = { norms: new Map(), biases: new Map(), best: [] };
  for (const [local] of norms) out.norms.set(local, new TunedVector(model.blockVector(block.index, `${local}.weight`)));
  for (const [local] of biases) out.biases.set(local, new TunedVector(model.blockVector(block.index, `${local}.bias`)));
  return out;
}

export function normBiasParams(nb: BlockNormBias): Param[] {
  return [...[...nb.norms.values()].map((t) => t.v), ...[...nb.biases.values()].map((t) => t.v)];
}

/** The tuned norms and biases as what a block graph injects (nothing without `nb`). */
export function normBiasInject(nb: BlockNormBias | null | undefined): BlockGraphInject {
  if (!nb) return {};
  return {
    norm: (g, local) => {
      const t = nb.norms.get(local);
      return t ? tunedVectorVar(g, t) : undefined;
    },
    bias: (g, local) => {
      const t = nb.biases.get(local);
      return t ? tunedVectorVar(g, t) : undefined;
    },
  };
}

/** Hands the block's norms and biases to the exporters: tuned (`nb`) or, for a block that was not tuned, as they are. */
export function emitNormBias(session: QuantizeSession, model: BlockTunableCausalLM, block: BlockSpec, nb: BlockNormBias | null): void {
  if (!session.emitTensor) throw new AutoRoundError('E_UNSUPPORTED', 'this host cannot write tuned norms and biases (no emitTensor)');
  const { norms, biases } = blockTensorNames(block);
  for (const [local, name] of norms) session.emitTensor(name, nb?.norms.get(local)?.value() ?? model.blockVector(block.index, `${local}.weight`));
  for (const [local, name] of biases) session.emitTensor(name, nb?.biases.get(local)?.value() ?? model.blockVector(block.index, `${local}.bias`));
}
