import type { BlockSpec, ExpectedShape, HFConfig, LinearSpec, ModelSpec } from '@autoround/core';
import { describeLlama } from '../llama/spec.js';
import { type MoeDims, type MoeVariant, moeDims } from './dims.js';

/** The full-precision tensors of a sparse MLP that are no quantizable linear: the router and Qwen2-MoE's shared-expert gate. */
export function moeRouterNames(d: MoeDims, v: MoeVariant): string[] {
  return [`${v.module}.gate`, ...(d.sharedIntermediate > 0 ? [`${v.module}.shared_expert_gate`] : [])];
}

/**
 * The spec of a mixture-of-experts model: LLaMA's (attention, norms, embedding, head), with each sparse block's MLP
 * replaced by its experts' linears (`mlp.experts.E.gate_proj` …, Mixtral's `block_sparse_moe.experts.E.w1` …) and the
 * shared expert's. The router stays out of `linears`: it is never quantized (docs/models/moe.md#what-is-quantized),
 * but it is one of the block's tensors, so every exporter copies it.
 */
export function describeMoe(config: HFConfig, file: string, variant: MoeVariant): ModelSpec {
  const d = moeDims(config, file, variant);
  // LLaMA's spec of the same config, with the attention's own adjustments
  const base = describeLlama(config, file, { name: variant.name, hfArchitectures: variant.hfArchitectures, adjust: (x) => (variant.attention ? variant.attention(x, config) : x) });
  const shapes: Record<string, ExpectedShape> = { ...base.shapes };
  const [gate, up, down] = variant.projections;
  const mod = variant.module;
  const hid: [number, string] = [d.hidden, `hidden_size ${d.hidden}`];
  const inter: [number, string] = [d.expertIntermediate, `${variant.name === 'mixtral' ? 'intermediate_size' : 'moe_intermediate_size'} ${d.expertIntermediate}`];
  const shared: [number, string] = [d.sharedIntermediate, `shared_expert_intermediate_size ${d.sharedIntermediate}`];
  const experts: [number, string] = [d.experts, `${variant.name === 'mixtral' ? 'num_local_experts' : 'num_experts'} ${d.experts}`];
  const shapeOf = (...dims: [number, string][]): ExpectedShape => ({ shape: dims.map((x) => x[0]), from: dims.map((x) => x[1]).join(', ') });
  const blocks: BlockSpec[] = base.blocks.map((b) => {
    if (!d.sparse[b.index]) return b;
    const attention = b.linears.filter((l) => !l.name.startsWith('mlp.'));
    for (const l of b.linears) if (l.name.startsWith('mlp.')) delete shapes[`${b.prefix}.${l.name}.weight`];
    const linears: LinearSpec[] = [...attention];
    const add = (name: string, out: [number, string], inp: [number, string]) => {
      linears.push({ name, inFeatures: inp[0], outFeatures: out[0], bias: false });
      shapes[`${b.prefix}.${name}.weight`] = shapeOf(out, inp);
    };
    for (let e = 0; e < d.experts; e++) {
      const p = `${mod}.experts.${e}`;
      add(`${p}.${gate}`, inter, hid);
      add(`${p}.${up}`, inter, hid);
      add(`${p}.${down}`, hid, inter);
    }
    if (d.sharedIntermediate > 0) {
      add(`${mod}.shared_expert.gate_proj`, shared, hid);
      add(`${mod}.shared_expert.up_proj`, shared, hid);
      add(`${mod}.shared_expert.down_proj`, hid, shared);
    }
    shapes[`${b.prefix}.${mod}.gate.weight`] = shapeOf(experts, hid);
    if (d.sharedIntermediate > 0) shapes[`${b.prefix}.${mod}.shared_expert_gate.weight`] = shapeOf([1, 'one gate value per token'], hid);
    const tensors = (b.norms ?? []).map((n) => `${b.prefix}.${n}.weight`);
    for (const l of linears) {
      tensors.push(`${b.prefix}.${l.name}.weight`);
      if (l.bias) tensors.push(`${b.prefix}.${l.name}.bias`);
    }
    for (const r of moeRouterNames(d, variant)) tensors.push(`${b.prefix}.${r}.weight`);
    return { ...b, linears, tensors };
  });
  return { ...base, blocks, shapes };
}
