import { type DType, Checkpoint, Tensor } from '@autoround/core-tensor';
import { AutoRoundError, type ExportContext, type ExporterPlugin, type HFConfig, type PackingPlugin, type QuantizedWeight, type QuantScheme, scaleDtypeOf } from '@autoround/core';
import { intWeightOnlyProblem, keptInBlocks, PackedLayoutSession, type PackedSessionOptions, type PackedTensor, warnFusedMismatches } from '@autoround/export-gptq';
import { packLlmc } from './pack.js';
import { type LlmcLayerArgs, LlmcLayoutWeights } from './read.js';

/** Bit widths vLLM's compressed-tensors WNA16 kernels load (and the original exports). */
export const LLMC_BITS = [4, 8] as const;

const SCALE_DTYPE: Record<'fp16' | 'bf16' | 'fp32', DType> = { fp16: 'F16', bf16: 'BF16', fp32: 'F32' };

/** Why compressed-tensors pack-quantized cannot store `scheme` as this exporter writes it (null when it can). */
export function llmcSchemeProblem(label: string, scheme: QuantScheme): string | null {
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

  protected pack(_layer: string, q: QuantizedWeight): PackedTensor[] {
    const t = packLlmc(q);
    const [out, inF] = q.shape;
    const sdt = SCALE_DTYPE[scaleDtypeOf(q.scheme)];
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

/** compressed-tensors QuantizationArgs of a weight scheme (the fields every compressed-tensors version accepts). */
export function ctWeightArgs(s: QuantScheme): Record<string, unknown> {
  const channel = s.group_size === -1;
  return {
    num_bits: s.bits,
    type: 'int',
    symmetric: s.sym,
    group_size: channel ? null : s.group_size,
    strategy: channel ? 'channel' : 'group',
    block_structure: null,
    dynamic: false,
    actorder: null,
    observer: 'minmax',
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
  const globalKey = JSON.stringify(ctWeightArgs(ctx.scheme));
  groups.set(globalKey, { args: ctWeightArgs(ctx.scheme), layers: [] });
  for (const [name, s] of ctx.layerSchemes) {
    if (!s) continue;
    const args = ctWeightArgs(s);
    const key = JSON.stringify(args);
    if (!groups.has(key)) groups.set(key, { args, layers: [] });
    groups.get(key)!.layers.push(name);
  }
  const uniform = [...groups.keys()].every((k) => k === globalKey || groups.get(k)!.layers.length === 0);
  const configGroups: Record<string, unknown> = {};
  let k = 0;
  for (const [key, g] of groups) {
    if (key !== globalKey && g.layers.length === 0) continue;
    if (!uniform && g.layers.length === 0) continue;
    configGroups[`group_${k++}`] = { targets: uniform ? ['Linear'] : g.layers, weights: g.args, input_activations: null, output_activations: null };
  }
  const ignore = keptInBlocks(ctx);
  const head = ctx.spec.lmHead.replace(/\.weight$/, '');
  if (!ctx.layerSchemes.get(head) && !ignore.includes(head)) ignore.push(head);
  return {
    config_groups: configGroups,
    format: 'pack-quantized',
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

interface CtArgsJson {
  num_bits: number;
  group_size?: number | null;
  strategy?: string;
}
interface CtConfigJson {
  format?: string;
  config_groups: Record<string, { targets: string[]; weights?: CtArgsJson | null }>;
}

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

export function llmcLayerArgs(qc: CtConfigJson): (layer: string) => LlmcLayerArgs {
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
  const toArgs = (w: CtArgsJson, key: string): LlmcLayerArgs => ({
    bits: w.num_bits,
    groupSize: w.strategy === 'channel' || w.group_size == null ? -1 : w.group_size,
    bitsField: `quantization_config.config_groups.${key}.weights.num_bits`,
    groupSizeField: `quantization_config.config_groups.${key}.weights.group_size`,
  });
  return (layer) => {
    const exact = groups.find((g) => g.targets.includes(layer));
    const re = exact ?? groups.find((g) => g.targets.some((t) => t.startsWith('re:') && targetRegExp(t, g.key).test(layer)));
    const hit = re ?? groups.find((g) => g.targets.includes('Linear'));
    if (!hit) throw new AutoRoundError('E_FORMAT', `compressed-tensors config: no config group targets ${layer}`, { subject: layer });
    return toArgs(hit.weights!, hit.key);
  };
}

export const llmCompressorExporter: ExporterPlugin = {
  name: 'llm_compressor',
  aliases: ['llmcompressor', 'llm-compressor'],
  description: 'llm-compressor / compressed-tensors format (quant_method "compressed-tensors", pack-quantized, W4A16/W8A16); loads in vLLM, SGLang, transformers',
  check(scheme, format) {
    const f = format.trim().toLowerCase();
    if (f.includes(':')) return `unknown llm_compressor variant "${format}" (int weight-only schemes are written as pack-quantized)`;
    return llmcSchemeProblem('llm_compressor', scheme);
  },
  open(ctx) {
    const err = llmCompressorExporter.check(ctx.scheme, ctx.format);
    if (err) throw new AutoRoundError('E_FORMAT', `--format ${ctx.format}: ${err}`, { subject: '--format' });
    warnFusedMismatches(ctx, 'llm_compressor');
    warnPartialGroups(ctx, 'llm_compressor');
    return new LlmcLayoutSession(ctx, () => llmcQuantConfig(ctx), { label: ctx.format });
  },
  detect(config: HFConfig) {
    const qc = config.quantization_config as { quant_method?: string; format?: string } | undefined;
    return qc?.quant_method === 'compressed-tensors' && qc.format === 'pack-quantized';
  },
  read(dir: string, config: HFConfig) {
    return new LlmcLayoutWeights(Checkpoint.open(dir), llmcLayerArgs(config.quantization_config as CtConfigJson));
  },
};

/** auto_round:llm_compressor: the compressed-tensors layout under the auto-round config. */
export const autoRoundLlmcPacking: PackingPlugin = {
  exporter: 'auto_round',
  name: 'auto_round:llm_compressor',
  check: (scheme) => llmcSchemeProblem('auto_round:llm_compressor', scheme),
  open(ctx, quantizationConfig) {
    warnPartialGroups(ctx, 'auto_round:llm_compressor');
    return new LlmcLayoutSession(ctx, quantizationConfig, { label: 'auto_round:llm_compressor' });
  },
  read(dir, config) {
    const qc = config.quantization_config as { bits: number; group_size: number; extra_config?: Record<string, { bits?: number; group_size?: number }> };
    const field = (layer: string, key: 'bits' | 'group_size') => (qc.extra_config?.[layer]?.[key] !== undefined ? `quantization_config.extra_config[${JSON.stringify(layer)}].${key}` : `quantization_config.${key}`);
    return new LlmcLayoutWeights(Checkpoint.open(dir), (layer) => ({
      bits: qc.extra_config?.[layer]?.bits ?? qc.bits,
      groupSize: qc.extra_config?.[layer]?.group_size ?? qc.group_size,
      bitsField: field(layer, 'bits'),
      groupSizeField: field(layer, 'group_size'),
    }));
  },
};
