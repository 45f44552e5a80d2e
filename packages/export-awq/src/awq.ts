import { Checkpoint } from '@autoround/core-tensor';
import { AutoRoundError, type ExportContext, type ExporterPlugin, type HFConfig, type PackingPlugin, type QuantizedWeight, type QuantScheme } from '@autoround/core';
import { intWeightOnlyProblem, keptInBlocks, PackedLayoutSession, type PackedSessionOptions, type PackedTensor, quantizedOutsideBlocks, warnFusedMismatches } from '@autoround/export-gptq';
import { packAwq } from './pack.js';
import { AwqLayoutWeights } from './read.js';

/** AutoAWQ's GEMM kernels pack 4-bit weights only. */
export const AWQ_BITS = [4] as const;

/** Why the AWQ layout cannot store `scheme` (null when it can). */
export function awqSchemeProblem(label: string, scheme: QuantScheme): string | null {
  if (scheme.data_type === 'int' && scheme.act_bits >= 16 && scheme.bits < 16 && scheme.bits !== 4) {
    return `${label} stores 4-bit weights only (AutoAWQ GEMM kernels), not ${scheme.bits}-bit; use auto_gptq or auto_round for 2, 3 and 8 bits`;
  }
  return intWeightOnlyProblem(label, scheme, AWQ_BITS);
}

/** Writes qweight / qzeros / scales in the AutoAWQ GEMM layout; biases of packed layers in fp16. */
export class AwqLayoutSession extends PackedLayoutSession {
  constructor(ctx: ExportContext, quantizationConfig: () => Record<string, unknown>, options: PackedSessionOptions = {}) {
    super(ctx, quantizationConfig, options);
  }

  protected pack(layer: string, q: QuantizedWeight): PackedTensor[] {
    const t = packAwq(q, (v) => this.fp16Scale(layer, v));
    const [out, inF] = q.shape;
    return [
      { suffix: 'qweight', dtype: 'I32', shape: [inF, out / 8], data: t.qweight },
      { suffix: 'qzeros', dtype: 'I32', shape: [t.nGroups, out / 8], data: t.qzeros },
      { suffix: 'scales', dtype: 'F16', shape: [t.nGroups, out], data: t.scales },
    ];
  }
}

/** in_features of each quantizable layer, from the model spec (lm_head: hidden size). */
function inFeatures(ctx: ExportContext): Map<string, number> {
  const m = new Map<string, number>();
  for (const b of ctx.spec.blocks) for (const l of b.linears) m.set(`${b.prefix}.${l.name}`, l.inFeatures);
  m.set(ctx.spec.lmHead.replace(/\.weight$/, ''), ctx.spec.hiddenSize);
  return m;
}

/**
 * Layer checks the AWQ GEMM kernel needs before any work starts: in_features a multiple of the
 * group size (its WQLinear asserts it). The plain auto_awq config also has room for one group size
 * and no quantized lm_head, so `plainConfig` rejects those too (auto_round:auto_awq records them in
 * extra_config).
 */
export function checkAwqLayers(ctx: ExportContext, label: string, plainConfig: boolean): void {
  const ins = inFeatures(ctx);
  for (const [name, s] of ctx.layerSchemes) {
    if (!s) continue;
    const inF = ins.get(name);
    if (s.group_size > 0 && inF !== undefined && inF >= s.group_size && inF % s.group_size !== 0) {
      throw new AutoRoundError('E_FORMAT', `--format ${label}: ${name} has in_features ${inF}, not a multiple of group_size ${s.group_size}, which the AWQ GEMM kernel needs`, { subject: name });
    }
    if (plainConfig && s.group_size !== ctx.scheme.group_size) {
      throw new AutoRoundError('E_FORMAT', `--format ${label}: ${name} uses group_size ${s.group_size} but the AWQ config records one group size (${ctx.scheme.group_size}); use auto_round:auto_awq for per-layer group sizes`, { subject: name });
    }
  }
  const outside = quantizedOutsideBlocks(ctx);
  if (plainConfig && outside.length > 0) {
    throw new AutoRoundError('E_FORMAT', `--format ${label}: AWQ loaders do not convert ${outside.join(', ')} (--quant_lm_head); use auto_round:auto_awq or auto_gptq to store a quantized lm_head`, { subject: '--quant_lm_head' });
  }
}

/**
 * quantization_config of the auto_awq format (docs/formats/gptq-awq-llmc.md#auto_awq-config): the scheme and tuning metadata,
 * quant_method "awq", version "gemm", zero_point = !sym, provider "auto-round", and the layers
 * AWQ loaders must leave in full precision (kept block layers and lm_head).
 */
export function awqQuantConfig(ctx: ExportContext): Record<string, unknown> {
  const s = ctx.scheme;
  const qc: Record<string, unknown> = { bits: s.bits, group_size: s.group_size, sym: s.sym, data_type: s.data_type };
  for (const [k, v] of Object.entries(ctx.quantArgs)) if (v !== undefined && v !== null && v !== '') qc[k] = v;
  const anyAsym = [...ctx.layerSchemes.values()].some((ls) => ls && !ls.sym);
  qc.quant_method = 'awq';
  qc.zero_point = !s.sym || anyAsym;
  qc.version = 'gemm';
  qc.provider = 'auto-round';
  const notConvert = keptInBlocks(ctx);
  const head = ctx.spec.lmHead.replace(/\.weight$/, '');
  if (!ctx.layerSchemes.get(head) && !notConvert.includes(head)) notConvert.push(head);
  qc.modules_to_not_convert = notConvert;
  return qc;
}

export const autoAwqExporter: ExporterPlugin = {
  name: 'auto_awq',
  aliases: ['autoawq'],
  description: 'AutoAWQ format (quant_method "awq", version "gemm", 4-bit); loads in transformers, vLLM, SGLang',
  check(scheme, format) {
    const f = format.trim().toLowerCase();
    if (f !== 'auto_awq' && f !== 'autoawq' && f !== 'auto_awq:gemm') return `unknown auto_awq variant "${format}" (auto_awq writes the GEMM layout)`;
    return awqSchemeProblem('auto_awq', scheme);
  },
  open(ctx) {
    const err = autoAwqExporter.check(ctx.scheme, ctx.format);
    if (err) throw new AutoRoundError('E_FORMAT', `--format ${ctx.format}: ${err}`, { subject: '--format' });
    checkAwqLayers(ctx, ctx.format, true);
    warnFusedMismatches(ctx, 'auto_awq');
    return new AwqLayoutSession(ctx, () => awqQuantConfig(ctx), { label: ctx.format });
  },
  detect(config: HFConfig) {
    const qc = config.quantization_config as { quant_method?: string } | undefined;
    return qc?.quant_method === 'awq';
  },
  read(dir: string, config: HFConfig) {
    const qc = config.quantization_config as { bits?: number; w_bit?: number; group_size?: number; q_group_size?: number; version?: string };
    const bitsField = qc.bits !== undefined ? 'quantization_config.bits' : 'quantization_config.w_bit';
    const bits = qc.bits ?? qc.w_bit ?? 4;
    if (bits !== 4) throw new AutoRoundError('E_UNSUPPORTED', `${dir}: ${bitsField} ${JSON.stringify(bits)}: AWQ with ${bits}-bit weights cannot be read (only the 4-bit GEMM layout)`, { subject: dir });
    if (qc.version !== undefined && (typeof qc.version !== 'string' || qc.version.toLowerCase() !== 'gemm')) throw new AutoRoundError('E_UNSUPPORTED', `${dir}: quantization_config.version ${JSON.stringify(qc.version)}: this AWQ version cannot be read (only "gemm")`, { subject: dir });
    const gs = qc.group_size ?? qc.q_group_size ?? 128;
    const gsField = qc.group_size !== undefined ? 'quantization_config.group_size' : qc.q_group_size !== undefined ? 'quantization_config.q_group_size' : 'the AWQ default group size';
    return new AwqLayoutWeights(Checkpoint.open(dir), () => gs, undefined, () => gsField);
  },
};

/** auto_round:auto_awq: the AWQ GEMM layout under the auto-round config (per-layer settings in extra_config). */
export const autoRoundAwqPacking: PackingPlugin = {
  exporter: 'auto_round',
  name: 'auto_round:auto_awq',
  check: (scheme) => awqSchemeProblem('auto_round:auto_awq', scheme),
  open(ctx, quantizationConfig) {
    checkAwqLayers(ctx, 'auto_round:auto_awq', false);
    return new AwqLayoutSession(ctx, quantizationConfig, { label: 'auto_round:auto_awq' });
  },
  read(dir, config) {
    const qc = config.quantization_config as { bits?: unknown; group_size: number; extra_config?: Record<string, { bits?: unknown; group_size?: number }> };
    const field = (layer: string, key: string) => (qc.extra_config?.[layer]?.[key as 'bits'] !== undefined ? `quantization_config.extra_config[${JSON.stringify(layer)}].${key}` : `quantization_config.${key}`);
    return new AwqLayoutWeights(
      Checkpoint.open(dir),
      (layer) => qc.extra_config?.[layer]?.group_size ?? qc.group_size,
      (layer) => ({ bits: qc.extra_config?.[layer]?.bits ?? qc.bits, field: field(layer, 'bits') }),
      (layer) => field(layer, 'group_size'),
    );
  },
};


