import { type DType, Checkpoint, Tensor } from '@autoround/core-tensor';
import { AutoRoundError, type ExportContext, type ExporterPlugin, type HFConfig, type PackingPlugin, type QuantizedWeight, type QuantScheme, scaleDtypeOf, type WeightSource } from '@autoround/core';
import { intWeightOnlyProblem, keptInBlocks, PackedLayoutSession, type PackedSessionOptions, type PackedTensor, warnFusedMismatches } from '@autoround/export-gptq';
import { fpDataTypeOf, isFpScheme } from '@autoround/quant-types';
import { fpLayoutProblem, packFpLayer } from './fp.js';
import { packLlmc } from './pack.js';
import { type LlmcLayerArgs, LlmcLayoutWeights } from './read.js';
import { autoRoundFpWeights, type CtGroupJson, ctFolderWeights } from './fp-read.js';

/** Bit widths vLLM's compressed-tensors WNA16 kernels load (and the original exports). */
export const LLMC_BITS = [4, 8] as const;

const SCALE_DTYPE: Record<'fp16' | 'bf16' | 'fp32', DType> = { fp16: 'F16', bf16: 'BF16', fp32: 'F32' };

/**
 * The compressed-tensors format a scheme is written in (docs/formats/fp-formats.md#compressed-tensors): int
 * weight-only pack-quantized, W8A8 int-quantized, NVFP4 nvfp4-pack-quantized, MXFP4 mxfp4-pack-quantized, MXFP8
 * mxfp8-quantized, FP8 float-quantized; null for a scheme it has no format for.
 */
export function ctFormatOf(s: QuantScheme): string | null {
  if (s.data_type === 'int') return s.act_bits >= 16 ? 'pack-quantized' : s.bits === 8 && s.act_bits === 8 && s.act_data_type === 'int' ? 'int-quantized' : null;
  const t = fpDataTypeOf(s.data_type, s.bits);
  if (!t) return null;
  const name = t.format.name;
  if (name === 'nv_fp4') return 'nvfp4-pack-quantized';
  // the original's NVFP4_E5M3 (nvfp4_v2): UE5M3 group scales, no global scale (spec formats.md §1b, §4)
  if (name === 'nv_fp4_e5m3') return 'nvfp4-e5m3-pack-quantized';
  if (name === 'mx_fp4') return 'mxfp4-pack-quantized';
  if (name === 'mx_fp8_e4m3') return 'mxfp8-quantized';
  if (name === 'fp8_e4m3') return 'float-quantized';
  return null;
}

/** Why compressed-tensors cannot store an activation setting as its input_activations args say it (null when it can). */
function ctActivationProblem(label: string, s: QuantScheme): string | null {
  if (s.act_bits >= 16) return null;
  if (s.act_data_type.endsWith('_rceil')) return `${label}: act_data_type "${s.act_data_type}" (the rounded-up MX exponent) has no compressed-tensors setting; use auto_round or fake`;
  const t = fpDataTypeOf(s.act_data_type, s.act_bits);
  const w = fpDataTypeOf(s.data_type, s.bits);
  if (s.act_data_type === 'int') return s.act_bits === 8 && s.act_dynamic && s.act_group_size === -1 ? null : `${label} stores int activations as dynamic 8-bit per token (INT8 W8A8), not act_bits ${s.act_bits} act_group_size ${s.act_group_size}${s.act_dynamic ? '' : ' static'}; use fake`;
  if (!t || !w || t.format.name !== w.format.name) return `${label} stores activations of the weights' type (act_data_type "${s.act_data_type}" with ${s.act_bits} bits does not match data_type "${s.data_type}"); use auto_round or fake`;
  return null;
}

/** Why compressed-tensors pack-quantized cannot store `scheme` as this exporter writes it (null when it can). */
export function llmcSchemeProblem(label: string, scheme: QuantScheme): string | null {
  if (scheme.bits < 16 && isFpScheme(scheme)) {
    if (ctFormatOf(scheme) === null) return `${label} writes NVFP4, NVFP4_E5M3, MXFP4, MXFP8 and FP8 (e4m3) floating-point schemes (the original's compressed-tensors formats; MXINT4 has none), not data_type "${scheme.data_type}" with ${scheme.bits} bits${fpLayoutProblem(scheme) ? '' : ' (use auto_round)'}; use fake for others`;
    return ctActivationProblem(label, scheme);
  }
  if (scheme.data_type === 'int' && scheme.bits === 8 && scheme.act_bits < 16) return ctActivationProblem(label, scheme);
  if (scheme.data_type === 'int' && scheme.act_bits >= 16 && scheme.bits < 16 && !(LLMC_BITS as readonly number[]).includes(scheme.bits)) {
    return `${label} writes int weight-only schemes with 4 or 8 bits (compressed-tensors pack-quantized as vLLM loads it), not ${scheme.bits}; use auto_round or auto_gptq for 2 and 3 bits`;
  }
  return intWeightOnlyProblem(label, scheme, LLMC_BITS);
}

/**
 * weight_packed / weight_scale / weight_shape (+ weight_zero_point for asym) per layer, as
 * compressed-tensors' PackedQuantizationCompressor writes them. Biases stay in their dtype
 * (compressed-tensors leaves them alone); scales are stored in the scale dtype, which holds them exactly.
 */
export class LlmcLayoutSession extends PackedLayoutSession {
  constructor(ctx: ExportContext, quantizationConfig: () => Record<string, unknown>, options: PackedSessionOptions = {}) {
    super(ctx, quantizationConfig, { biasF16: false, ...options });
  }

  protected pack(layer: string, q: QuantizedWeight): PackedTensor[] {
    if (q.element) return packFpLayer(layer, q);
    const [out, inF] = q.shape;
    const sdt = SCALE_DTYPE[scaleDtypeOf(q.scheme)];
    if (q.scheme.act_bits < 16) return packIntQuantized(layer, q, sdt);
    const t = packLlmc(q);
    const scale = Tensor.castFromF32(sdt, Tensor.f32([out, t.nGroups], t.weightScale));
    const res: PackedTensor[] = [
      { suffix: 'weight_packed', dtype: 'I32', shape: [out, t.weightPacked.length / out], data: t.weightPacked },
      { suffix: 'weight_scale', dtype: sdt, shape: [out, t.nGroups], data: scale.data },
    ];
    if (t.weightZeroPoint) res.push({ suffix: 'weight_zero_point', dtype: 'I32', shape: [t.weightZeroPoint.length / t.nGroups, t.nGroups], data: t.weightZeroPoint });
    // compressed-tensors writes torch.tensor(weight.shape), an int64 pair
    res.push({ suffix: 'weight_shape', dtype: 'I64', shape: [2], data: BigInt64Array.of(BigInt(out), BigInt(inF)) });
    return res;
  }
}

/**
 * int-quantized (W8A8): `weight` int8 [out, in] holding the signed level (code − 128), `weight_scale` [out, G] in the
 * scale dtype; dequantized as scale · level, the QDQ of the full-range symmetric scheme.
 */
function packIntQuantized(layer: string, q: QuantizedWeight, sdt: DType): PackedTensor[] {
  const [out, inF] = q.shape;
  if (!q.codes || !q.scales || q.scheme.bits !== 8 || !q.scheme.sym) throw new AutoRoundError('E_UNSUPPORTED', `${layer}: int-quantized stores symmetric 8-bit codes and scales`, { subject: layer });
  const w = new Int8Array(out * inF);
  for (let i = 0; i < w.length; i++) w[i] = q.codes[i]! - 128;
  const G = Math.ceil(inF / q.groupSize);
  const scale = Tensor.castFromF32(sdt, Tensor.f32([out, G], Float32Array.from(q.scales)));
  return [
    { suffix: 'weight', dtype: 'I8', shape: [out, inF], data: w },
    { suffix: 'weight_scale', dtype: sdt, shape: [out, G], data: scale.data },
  ];
}

/** The strategy and group size fields of compressed-tensors args for a group size (0 per tensor, −1 per row or token). */
function ctStrategy(groupSize: number, perRow: 'channel' | 'token', nv: boolean): { strategy: string; group_size: number | null } {
  if (nv) return { strategy: 'tensor_group', group_size: groupSize };
  if (groupSize === 0) return { strategy: 'tensor', group_size: null };
  if (groupSize === -1) return { strategy: perRow, group_size: null };
  return { strategy: 'group', group_size: groupSize };
}

/** compressed-tensors QuantizationArgs of a weight scheme (the fields every compressed-tensors version accepts). */
export function ctWeightArgs(s: QuantScheme): Record<string, unknown> {
  const fp = s.bits < 16 ? fpDataTypeOf(s.data_type, s.bits) : null;
  const st = s.group_shape ? { strategy: 'block', group_size: null } : ctStrategy(s.group_size, 'channel', fp?.format.family === 'nv');
  return {
    num_bits: s.bits,
    type: fp ? 'float' : 'int',
    symmetric: s.sym,
    group_size: st.group_size,
    strategy: st.strategy,
    block_structure: s.group_shape ? [...s.group_shape] : null,
    dynamic: false,
    actorder: null,
    observer: 'minmax',
    observer_kwargs: {},
  };
}

/**
 * compressed-tensors QuantizationArgs of a scheme's activations (input_activations), null when they stay in full
 * precision: NVFP4 tensor_group with dynamic "local" (group scales from x, the global scale stored as
 * input_global_scale), MX groups of 32 dynamic, FP8 per tensor static (input_scale) or per token / group dynamic,
 * int8 per token dynamic.
 */
export function ctInputArgs(s: QuantScheme): Record<string, unknown> | null {
  if (s.act_bits >= 16) return null;
  const fp = fpDataTypeOf(s.act_data_type, s.act_bits);
  const nv = fp?.format.family === 'nv';
  const st = ctStrategy(s.act_group_size, 'token', nv);
  return {
    num_bits: s.act_bits,
    type: fp ? 'float' : 'int',
    symmetric: s.act_sym,
    group_size: st.group_size,
    strategy: st.strategy,
    block_structure: null,
    dynamic: nv && fp.staticGlobalScale ? 'local' : s.act_dynamic,
    actorder: null,
    observer: s.act_dynamic && !nv ? null : 'minmax',
    observer_kwargs: {},
  };
}

/**
 * quantization_config of the llm_compressor format (compressed-tensors, docs/formats/gptq-awq-llmc.md#llm_compressor-config): one config
 * group per distinct weight scheme. When every quantized layer shares the global scheme the one
 * group targets ["Linear"]; otherwise every group lists its layers by name, so no layer matches two
 * groups. `ignore` lists the Linear layers left in full precision (kept block layers, lm_head).
 */
export function llmcQuantConfig(ctx: ExportContext): Record<string, unknown> {
  const groups = new Map<string, { args: Record<string, unknown>; layers: string[] }>();
  const keyOf = (s: QuantScheme) => JSON.stringify([ctWeightArgs(s), ctInputArgs(s)]);
  const globalKey = keyOf(ctx.scheme);
  groups.set(globalKey, { args: ctWeightArgs(ctx.scheme), layers: [] });
  for (const [name, s] of ctx.layerSchemes) {
    if (!s) continue;
    const args = ctWeightArgs(s);
    const key = keyOf(s);
    if (!groups.has(key)) groups.set(key, { args, layers: [] });
    groups.get(key)!.layers.push(name);
  }
  const uniform = [...groups.keys()].every((k) => k === globalKey || groups.get(k)!.layers.length === 0);
  const configGroups: Record<string, unknown> = {};
  let k = 0;
  for (const [key, g] of groups) {
    if (key !== globalKey && g.layers.length === 0) continue;
    if (!uniform && g.layers.length === 0) continue;
    const scheme = g.layers.length ? ctx.layerSchemes.get(g.layers[0]!)! : ctx.scheme;
    configGroups[`group_${k++}`] = { targets: uniform ? ['Linear'] : g.layers, weights: g.args, input_activations: ctInputArgs(scheme), output_activations: null };
  }
  const ignore = keptInBlocks(ctx);
  const head = ctx.spec.lmHead.replace(/\.weight$/, '');
  if (!ctx.layerSchemes.get(head) && !ignore.includes(head)) ignore.push(head);
  return {
    config_groups: configGroups,
    format: ctFormatOf(ctx.scheme) ?? 'pack-quantized',
    global_compression_ratio: null,
    ignore,
    kv_cache_scheme: null,
    quant_method: 'compressed-tensors',
    quantization_status: 'compressed',
    provider: 'auto-round',
  };
}

/** Warns about layers whose in_features is not a multiple of the group size (vLLM's kernels need it). */
function warnPartialGroups(ctx: ExportContext, label: string): void {
  const bad: string[] = [];
  for (const b of ctx.spec.blocks) {
    for (const l of b.linears) {
      const s = ctx.layerSchemes.get(`${b.prefix}.${l.name}`);
      if (s && s.group_size > 0 && l.inFeatures > s.group_size && l.inFeatures % s.group_size !== 0) bad.push(`${b.prefix}.${l.name}`);
    }
  }
  if (bad.length > 0) ctx.log.warn(`${label}: ${bad.length} layers (${bad.slice(0, 3).join(', ')}) have in_features not divisible by their group_size; compressed-tensors stores the partial last group, but vLLM's kernels refuse such layers`);
}

interface CtConfigJson {
  format?: string;
  config_groups: Record<string, CtGroupJson>;
}

/** The formats this reader knows (docs/formats/fp-formats.md#compressed-tensors). */
const CT_FORMATS = ['pack-quantized', 'int-quantized', 'nvfp4-pack-quantized', 'nvfp4-e5m3-pack-quantized', 'mxfp4-pack-quantized', 'mxfp8-quantized', 'float-quantized'];

/**
 * Resolves a layer's weight args from config_groups as compressed-tensors and vLLM match targets:
 * an exact layer name first, then a "re:" regex, then the class name "Linear".
 */
/** A "re:" target as a regular expression; one that does not compile is the config's fault, named as such. */
function targetRegExp(target: string, key: string): RegExp {
  try {
    return new RegExp(`^(?:${target.slice(3)})$`);
  } catch (e) {
    throw new AutoRoundError('E_FORMAT', `compressed-tensors config: quantization_config.config_groups.${key}.targets has ${JSON.stringify(target)}, not a valid regular expression (${(e as Error).message})`, { subject: `quantization_config.config_groups.${key}.targets` });
  }
}

/** The config group that targets a layer, as compressed-tensors and vLLM match targets. */
export function ctGroupOf(qc: CtConfigJson): (layer: string) => { group: CtGroupJson; key: string } | null {
  // found by the 100k-input fuzz run: a group that is null reached .weights
  for (const [key, g] of Object.entries(qc.config_groups ?? {})) {
    if (!g || typeof g !== 'object' || Array.isArray(g)) {
      throw new AutoRoundError('E_FORMAT', `compressed-tensors config: quantization_config.config_groups.${key} is ${JSON.stringify(g)}, expected an object with targets and weights`, { subject: `quantization_config.config_groups.${key}` });
    }
  }
  const groups = Object.entries(qc.config_groups ?? {})
    .filter(([, g]) => g.weights)
    .map(([key, g]) => ({ key, ...g }));
  // found by tools/fuzz: a group whose targets are not a list of names reached .includes()
  for (const g of groups) {
    if (!Array.isArray(g.targets) || !g.targets.every((t) => typeof t === 'string')) {
      throw new AutoRoundError('E_FORMAT', `compressed-tensors config: quantization_config.config_groups.${g.key}.targets is ${JSON.stringify(g.targets)}, expected a list of layer names`, { subject: `quantization_config.config_groups.${g.key}.targets` });
    }
  }
  return (layer) => {
    const exact = groups.find((g) => g.targets.includes(layer));
    const re = exact ?? groups.find((g) => g.targets.some((t) => t.startsWith('re:') && targetRegExp(t, g.key).test(layer)));
    const hit = re ?? groups.find((g) => g.targets.includes('Linear'));
    return hit ? { group: hit, key: hit.key } : null;
  };
}

export function llmcLayerArgs(qc: CtConfigJson): (layer: string) => LlmcLayerArgs {
  const groupOf = ctGroupOf(qc);
  return (layer) => {
    const hit = groupOf(layer);
    if (!hit) throw new AutoRoundError('E_FORMAT', `compressed-tensors config: no config group targets ${layer}`, { subject: layer });
    const w = hit.group.weights!;
    return {
      bits: w.num_bits,
      groupSize: w.strategy === 'channel' || w.group_size == null ? -1 : w.group_size,
      bitsField: `quantization_config.config_groups.${hit.key}.weights.num_bits`,
      groupSizeField: `quantization_config.config_groups.${hit.key}.weights.group_size`,
    };
  };
}

/**
 * Every quantized layer of a compressed-tensors folder shares one format (the config's `format`): a layer whose
 * scheme needs another is an error naming it, before any work.
 */
function checkOneFormat(ctx: ExportContext, label: string): void {
  const want = ctFormatOf(ctx.scheme);
  for (const [name, s] of ctx.layerSchemes) {
    if (!s) continue;
    const f = ctFormatOf(s);
    if (f !== want) throw new AutoRoundError('E_FORMAT', `--format ${ctx.format}: ${name} needs compressed-tensors format ${f ?? '(none)'}, the run's scheme ${want ?? '(none)'}; ${label} writes one format per folder (change --layer_config, or use auto_round or fake)`, { subject: '--format' });
  }
}

/** A compressed-tensors folder read back: int pack-quantized layers and the floating-point / W8A8 layouts. */
function readCtFolder(dir: string, config: HFConfig): WeightSource {
  const qc = config.quantization_config as CtConfigJson;
  const format = qc.format ?? 'pack-quantized';
  return ctFolderWeights(dir, format, ctGroupOf(qc), (ck) => new LlmcLayoutWeights(ck, llmcLayerArgs(qc)));
}

export const llmCompressorExporter: ExporterPlugin = {
  name: 'llm_compressor',
  aliases: ['llmcompressor', 'llm-compressor'],
  description: 'llm-compressor / compressed-tensors format (quant_method "compressed-tensors", pack-quantized, W4A16/W8A16); loads in vLLM, SGLang, transformers',
  check(scheme, format) {
    const f = format.trim().toLowerCase();
    if (f.includes(':')) return `unknown llm_compressor variant "${format}" (the scheme decides the compressed-tensors format: pack-quantized, int-quantized, nvfp4-pack-quantized, nvfp4-e5m3-pack-quantized, mxfp4-pack-quantized, mxfp8-quantized, float-quantized)`;
    return llmcSchemeProblem('llm_compressor', scheme);
  },
  open(ctx) {
    const err = llmCompressorExporter.check(ctx.scheme, ctx.format);
    if (err) throw new AutoRoundError('E_FORMAT', `--format ${ctx.format}: ${err}`, { subject: '--format' });
    checkOneFormat(ctx, 'llm_compressor');
    warnFusedMismatches(ctx, 'llm_compressor');
    warnPartialGroups(ctx, 'llm_compressor');
    return new LlmcLayoutSession(ctx, () => llmcQuantConfig(ctx), { label: ctx.format });
  },
  detect(config: HFConfig) {
    const qc = config.quantization_config as { quant_method?: string; format?: string } | undefined;
    return qc?.quant_method === 'compressed-tensors' && CT_FORMATS.includes(qc.format ?? '');
  },
  read(dir: string, config: HFConfig) {
    return readCtFolder(dir, config);
  },
};

/**
 * Why the auto_round format cannot hold a floating-point scheme in these layouts (null when it can): the scheme's
 * activation settings are recorded in quantization_config, so any activation type the toolkit implements goes.
 * `fp8`: the auto_round:fp8_static packing (FP8 schemes); otherwise auto_round:llm_compressor (MX, NVFP4).
 */
function autoRoundFpProblem(label: string, scheme: QuantScheme, fp8: boolean): string | null {
  const t = fpDataTypeOf(scheme.data_type, scheme.bits);
  if (!t) return null;
  if ((t.format.family === 'fp8') !== fp8) return `${label} holds ${fp8 ? 'FP8' : 'MX and NVFP4'} schemes, not ${t.format.name}; use ${fp8 ? 'auto_round:llm_compressor (or plain auto_round)' : 'auto_round:fp8_static (or plain auto_round)'}`;
  return fpLayoutProblem(scheme);
}

/** An auto_round folder with these layouts read back (int pack-quantized layers through LlmcLayoutWeights). */
function readAutoRoundCt(dir: string, config: HFConfig): WeightSource {
  const qc = config.quantization_config as { bits: number; group_size: number; extra_config?: Record<string, { bits?: number; group_size?: number }> };
  const field = (layer: string, key: 'bits' | 'group_size') => (qc.extra_config?.[layer]?.[key] !== undefined ? `quantization_config.extra_config[${JSON.stringify(layer)}].${key}` : `quantization_config.${key}`);
  return autoRoundFpWeights(dir, qc, (ck) =>
    new LlmcLayoutWeights(ck, (layer) => ({
      bits: qc.extra_config?.[layer]?.bits ?? qc.bits,
      groupSize: qc.extra_config?.[layer]?.group_size ?? qc.group_size,
      bitsField: field(layer, 'bits'),
      groupSizeField: field(layer, 'group_size'),
    })),
  );
}

/**
 * auto_round:fp8_static: the FP8 schemes under the auto-round config (`weight` float8_e4m3fn, `weight_scale`
 * float32, `input_scale` for static activations), as the original's FP8 export writes them.
 */
export const autoRoundFp8Packing: PackingPlugin = {
  exporter: 'auto_round',
  name: 'auto_round:fp8_static',
  check: (scheme) => (isFpScheme(scheme) ? autoRoundFpProblem('auto_round:fp8_static', scheme, true) : 'auto_round:fp8_static holds FP8 schemes (FPW8A16, FP8_STATIC, FP8_BLOCK)'),
  open: (ctx, quantizationConfig) => new LlmcLayoutSession(ctx, quantizationConfig, { label: 'auto_round:fp8_static' }),
  read: readAutoRoundCt,
};

/** auto_round:llm_compressor: the compressed-tensors layout under the auto-round config (int weight-only, MX, NVFP4). */
export const autoRoundLlmcPacking: PackingPlugin = {
  exporter: 'auto_round',
  name: 'auto_round:llm_compressor',
  check: (scheme) => (isFpScheme(scheme) ? autoRoundFpProblem('auto_round:llm_compressor', scheme, false) : llmcSchemeProblem('auto_round:llm_compressor', scheme)),
  open(ctx, quantizationConfig) {
    warnPartialGroups(ctx, 'auto_round:llm_compressor');
    return new LlmcLayoutSession(ctx, quantizationConfig, { label: 'auto_round:llm_compressor' });
  },
  read: readAutoRoundCt,
};
