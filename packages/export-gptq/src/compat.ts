import { type ExportContext, fullName, intWeightOnlyMismatch, isIntWeightOnly, type QuantScheme } from '@autoround/core';

/**
 * Why an integer weight-only layout (GPTQ, AWQ, compressed-tensors) cannot store `scheme`, or null.
 * Shared by every packed exporter so the messages read the same.
 */
export function intWeightOnlyProblem(label: string, scheme: QuantScheme, bits: readonly number[]): string | null {
  if (!isIntWeightOnly(scheme)) {
    // floating-point and activation-quantized schemes: the formats that hold them (docs/formats/fp-formats.md)
    const where = scheme.data_type !== 'int' || scheme.act_bits < 16 ? ' (use auto_round, llm_compressor or fake)' : ' (use fake, or the format that carries it)';
    return `${label} stores integer weight-only schemes (W${bits.join('/W')}A16): ${intWeightOnlyMismatch(scheme)}${scheme.bits < 16 ? where : ''}`;
  }
  if (!bits.includes(scheme.bits)) {
    return `${label} supports bits ${bits.join(', ')}, not ${scheme.bits}`;
  }
  if (scheme.group_size === 0) {
    return `${label} cannot store one scale per tensor (group_size 0); use group_size -1 for one scale per output channel`;
  }
  return null;
}

/** The regex the original writes for a plain layer name (to_standard_regex): ".*" + escaped name + ".*". */
export function standardRegex(name: string): string {
  return `.*${name.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}.*`;
}

/** Is `name` a layer inside the quantized blocks? */
export function inBlocks(ctx: Pick<ExportContext, 'spec'>, name: string): boolean {
  return name.startsWith(ctx.spec.blockListName + '.');
}

/** Quantized layers outside the blocks (a quantized lm_head). */
export function quantizedOutsideBlocks(ctx: Pick<ExportContext, 'spec' | 'layerSchemes'>): string[] {
  return [...ctx.layerSchemes].filter(([n, s]) => s && !inBlocks(ctx, n)).map(([n]) => n);
}

/** Block layers kept in full precision (dimension rule, --fp_layers, layer_config bits 16). */
export function keptInBlocks(ctx: Pick<ExportContext, 'spec' | 'layerSchemes'>): string[] {
  return [...ctx.layerSchemes].filter(([n, s]) => !s && inBlocks(ctx, n)).map(([n]) => n);
}

function schemeKey(s: QuantScheme | null | undefined): string {
  if (!s) return 'fp';
  const g = s.group_size === -1 ? 'per-channel' : `g${s.group_size}`;
  return `${s.data_type}${s.bits} ${g} ${s.sym ? 'sym' : 'asym'}`;
}

/** Sibling projections that serving engines (vLLM, SGLang, TGI) fuse into one matrix. */
const FUSED_GROUPS: readonly (readonly string[])[] = [
  ['q_proj', 'k_proj', 'v_proj'],
  ['gate_proj', 'up_proj'],
];

/**
 * Fused projection groups whose members differ in scheme (or where only some are quantized).
 * Engines that fuse them (vLLM's qkv_proj / gate_up_proj) need one scheme for the whole group.
 */
export function fusedMismatches(ctx: Pick<ExportContext, 'spec' | 'layerSchemes'>): string[] {
  const out: string[] = [];
  for (const block of ctx.spec.blocks) {
    const byName = new Map(block.linears.map((l) => [l.name, fullName(block, l)]));
    for (const group of FUSED_GROUPS) {
      // group members that share a parent module ("self_attn.q_proj", "self_attn.k_proj" …)
      const parents = new Set<string>();
      for (const l of block.linears) {
        const leaf = l.name.slice(l.name.lastIndexOf('.') + 1);
        if (group.includes(leaf)) parents.add(l.name.slice(0, l.name.length - leaf.length));
      }
      for (const parent of parents) {
        const members = group.map((leaf) => byName.get(parent + leaf)).filter((n): n is string => !!n);
        if (members.length < 2) continue;
        const keys = members.map((n) => schemeKey(ctx.layerSchemes.get(n)));
        if (new Set(keys).size > 1) out.push(`${block.prefix}.${parent}{${group.join(',')}}: ${keys.join(' / ')}`);
      }
    }
  }
  return out;
}

/** Logs the fused-projection warning once per export, naming at most a few groups. */
export function warnFusedMismatches(ctx: ExportContext, label: string): void {
  const m = fusedMismatches(ctx);
  if (m.length === 0) return;
  const shown = m.length > 4 ? `${m.slice(0, 4).join('; ')}; and ${m.length - 4} more` : m.join('; ');
  ctx.log.warn(
    `${label}: engines that fuse q/k/v (qkv_proj) and gate/up (gate_up_proj), such as vLLM and SGLang, need every member of a fused group to share one scheme; these differ: ${shown}`,
  );
}
