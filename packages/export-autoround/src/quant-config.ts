import { type ExportContext, type ExportSession, type HFConfig, type QuantScheme, schemeDiff, scaleDtypeOf, type WeightSource } from '@autoround/core';

/** The version of the original whose on-disk format these exporters reproduce (docs/formats/auto_round.md#autoround_version). */
export const FORMAT_AUTOROUND_VERSION = '0.9.0';

const SCALE_DTYPE_NAME = { fp16: 'torch.float16', bf16: 'torch.bfloat16', fp32: 'torch.float32' } as const;

/** The scheme fields recorded in a config: weight fields always, activation fields when activations are quantized. */
export function schemeFields(s: QuantScheme): Record<string, unknown> {
  // FP8 blocks: group_size as the original's pair (128, 128)
  const o: Record<string, unknown> = { bits: s.bits, group_size: s.group_shape ? [...s.group_shape] : s.group_size, sym: s.sym, data_type: s.data_type };
  if (s.act_bits < 16) {
    Object.assign(o, { act_bits: s.act_bits, act_group_size: s.act_group_size, act_sym: s.act_sym, act_data_type: s.act_data_type, act_dynamic: s.act_dynamic });
  }
  if (s.super_bits !== undefined) o.super_bits = s.super_bits;
  if (s.super_group_size !== undefined) o.super_group_size = s.super_group_size;
  return o;
}

/**
 * Per-layer differences from the global scheme (docs/formats/auto_round.md#extra_config): kept-FP layers inside blocks
 * become {bits: 16, data_type: "fp"}; quantized layers outside blocks carry their full scheme.
 */
export function extraConfig(ctx: ExportContext): Record<string, Record<string, unknown>> {
  const extra: Record<string, Record<string, unknown>> = {};
  const inBlock = (name: string) => name.startsWith(ctx.spec.blockListName + '.');
  for (const [name, s] of ctx.layerSchemes) {
    if (!s) {
      if (inBlock(name)) extra[name] = { bits: 16, data_type: 'fp' };
      continue;
    }
    if (!inBlock(name)) {
      extra[name] = schemeFields(s);
      continue;
    }
    const d = schemeDiff(s, ctx.scheme) as Record<string, unknown>;
    delete d.scale_dtype;
    if (Object.keys(d).length > 0) extra[name] = d;
  }
  return extra;
}

/** quantization_config for the auto_round format. */
export function autoRoundQuantConfig(ctx: ExportContext, packingFormat: string): Record<string, unknown> {
  const qc: Record<string, unknown> = { ...schemeFields(ctx.scheme) };
  for (const [k, v] of Object.entries(ctx.quantArgs)) if (v !== undefined && v !== null && v !== '') qc[k] = v;
  qc.scale_dtype = SCALE_DTYPE_NAME[scaleDtypeOf(ctx.scheme)];
  qc.autoround_version = FORMAT_AUTOROUND_VERSION;
  qc.quant_method = 'auto-round';
  qc.packing_format = packingFormat;
  qc.block_name_to_quantize = ctx.spec.blockListName;
  const extra = extraConfig(ctx);
  if (Object.keys(extra).length > 0) qc.extra_config = extra;
  return qc;
}

/** Packings of the auto_round format written in the GPTQ tensor layout by this package itself. */
export const GPTQ_LAYOUT_PACKINGS = ['auto_round:auto_gptq', 'auto_round', 'auto_round:gptqmodel'] as const;

/** Packings the original knows, and the package that provides each here (for a helpful error when it is missing). */
export const PACKING_PROVIDERS: Readonly<Record<string, string>> = {
  'auto_round:auto_awq': '@autoround/export-awq',
  'auto_round:llm_compressor': '@autoround/export-llmc',
  'auto_round:fp8_static': '@autoround/export-llmc',
};
