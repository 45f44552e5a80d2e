// What a --format gguf:* output decides before quantization starts (the exporter's hooks, called
// by the host): the scheme the file type implies, the layer selection of a GGUF run, and the
// exact block type of each layer, which the algorithms then quantize to.

import {
  type ExporterPlugin,
  type FormatScheme,
  type LayerConfigValue,
  type LayerPlanContext,
  type QuantScheme,
  type QuantTypeContext,
  presetNames,
  presetScheme,
  resolveLayerSchemes,
} from '@autoround/core';
import { ggmlTypeName } from '@autoround/quant-types';
import { ggufLayerTypesOf, ggufSelectionOverrides } from './layer-types.js';

/** The GGUF file type a `gguf:<type>` format names ("q4_k_m"), or undefined. */
export function ggufFileTypeOf(format: string): string | undefined {
  const m = /^gguf:(.+)$/i.exec(format.trim());
  return m ? m[1]!.trim().toLowerCase() : undefined;
}

/** File types whose preset carries another name (the S/M/L suffix only changes the export mix). */
const GGUF_PRESET_ALIASES: Readonly<Record<string, string>> = { Q2_K: 'GGUF:Q2_K_S', Q3_K: 'GGUF:Q3_K_M', Q4_K: 'GGUF:Q4_K_M', Q5_K: 'GGUF:Q5_K_M', MXFP4_MOE: 'GGUF:MXFP4' };
const GGUF_FLOAT_TYPES = new Set(['F32', 'F16', 'BF16', 'FP32', 'FP16', 'FLOAT16', 'BFLOAT16']);

/** The preset a GGUF file type selects: GGUF:<TYPE>, BF16 (16 bits, nothing quantized) for float files; undefined if none. */
export function ggufPresetOf(fileType: string): string | undefined {
  const up = fileType.toUpperCase();
  if (GGUF_FLOAT_TYPES.has(up)) return 'BF16';
  const name = GGUF_PRESET_ALIASES[up] ?? `GGUF:${up}`;
  return presetNames().some((n) => n.toUpperCase() === name) ? name : undefined;
}

/**
 * ExporterPlugin.defaultScheme: as in the original, the GGUF file type overrides the scheme's
 * fields (gguf:q4_k_m → GGUF:Q4_K_M, gguf:f16 → BF16).
 */
export function ggufDefaultScheme(format: string): FormatScheme | undefined {
  const ft = ggufFileTypeOf(format);
  if (ft === undefined) return undefined;
  const preset = ggufPresetOf(ft);
  return { ...(preset ? { preset } : {}), label: `gguf:${ft}`, decides: 'the GGUF file type decides how each layer is quantized' };
}

/** A stand-in data type for GGUF's int presets while layers are selected (see ggufPlanLayers). */
const GGUF_INT = 'int (gguf)';

/** A --layer_config with its int entries (GGUF:Q8_0 …, {data_type: "int"}) on the GGUF stand-in. */
function ggufIntLayerConfig(lc: Record<string, LayerConfigValue>): Record<string, LayerConfigValue> {
  const out: Record<string, LayerConfigValue> = {};
  for (const [k, v] of Object.entries(lc)) {
    // a preset stands alone (nothing of the run's scheme, e.g. super_bits, may leak into it)
    const s = typeof v === 'string' ? { super_bits: undefined, super_group_size: undefined, scale_dtype: undefined, ...presetScheme(v) } : v;
    out[k] = s.data_type === 'int' ? { ...s, data_type: GGUF_INT } : v;
  }
  return out;
}

/**
 * ExporterPlugin.planLayers: the layer selection of a run with a GGUF output.
 * - The file's types and row fallbacks decide every layer: the rule that keeps int weight-only
 *   layers whose dimensions are not multiples of 32 in full precision (a packing constraint,
 *   docs/algorithms/schemes.md#default-layer-selection) does not apply to GGUF:Q4_0/Q5_0/Q8_0,
 *   whose data_type is int, whether they are the run's scheme or a --layer_config entry's.
 * - GGUF files always hold the output matrix, typed by the file's mix: lm_head joins the selection
 *   so that --fp_layers / --layer_config can name it, and leaves it again if they do not. The token
 *   embedding does the same when every format is GGUF (token_embd.weight; other formats keep it in
 *   full precision); with tied embeddings it is the output matrix too.
 */
export function ggufPlanLayers(ctx: LayerPlanContext): Map<string, QuantScheme | null> {
  const { spec, scheme, selection } = ctx;
  const selScheme = scheme.data_type === 'int' ? { ...scheme, data_type: GGUF_INT } : scheme;
  const headName = spec.lmHead.replace(/\.weight$/, '');
  const embedName = spec.embedding.replace(/\.weight$/, '');
  // a tied config whose checkpoint still ships lm_head.weight: the file gets an output.weight of its own
  const separateLmHead = spec.tiedEmbeddings && ctx.checkpoint.has(spec.lmHead);
  const ggufHead = selection.quantLmHead === undefined && (!spec.tiedEmbeddings || separateLmHead);
  const ggufEmbedding = ctx.formats.every((f) => ggufFileTypeOf(f) !== undefined);
  const layerSchemes = resolveLayerSchemes(spec, selScheme, {
    ...selection,
    ...(selection.layerConfig ? { layerConfig: ggufIntLayerConfig(selection.layerConfig) } : {}),
    quantLmHead: ggufHead || (selection.quantLmHead ?? false),
    quantEmbedding: ggufEmbedding,
    ...(separateLmHead ? { separateLmHead } : {}),
  });
  for (const [joined, name] of [[ggufHead, headName], [ggufEmbedding, embedName]] as const) {
    const h = layerSchemes.get(name);
    if (joined && (h === selScheme || (h === null && scheme.bits >= 16))) layerSchemes.delete(name);
  }
  for (const [k, v] of layerSchemes) if (v?.data_type === GGUF_INT) layerSchemes.set(k, v === selScheme ? scheme : { ...v, data_type: 'int' });
  return layerSchemes;
}

/**
 * ExporterPlugin.layerQuantTypes: the GGUF type of every weight the file stores, the layer
 * selection's overrides included (the exporter plans the same when it writes), with the mix
 * llama-quantize uses with an importance matrix when the algorithm calibrates (it differs only for
 * Q4_0/Q5_0 files).
 */
export function ggufLayerQuantTypes(ctx: QuantTypeContext): ReadonlyMap<string, string> {
  const ft = ggufFileTypeOf(ctx.format);
  if (!ft) return new Map();
  const types = ggufLayerTypesOf(ctx.spec, ctx.checkpoint, ft, ctx.calibrates, ggufSelectionOverrides(ctx, ft));
  return new Map([...types].map(([k, t]) => [k, ggmlTypeName(t)]));
}

/** The planning hooks of the gguf exporter. */
export const ggufPlanningHooks: Pick<ExporterPlugin, 'defaultScheme' | 'planLayers' | 'layerQuantTypes'> = {
  defaultScheme: ggufDefaultScheme,
  planLayers: ggufPlanLayers,
  layerQuantTypes: ggufLayerQuantTypes,
};
