import { Checkpoint } from '@autoround/core-tensor';
import { AutoRoundError, type ExportContext, type ExporterPlugin, fullName, type HFConfig, type QuantScheme } from '@autoround/core';
import { inBlocks, intWeightOnlyProblem, keptInBlocks, quantizedOutsideBlocks, standardRegex, warnFusedMismatches } from './compat.js';
import { type GptqLayerParams, GptqLayoutWeights } from './read.js';
import { GptqLayoutSession } from './session.js';

/** Bit widths the GPTQ layout (and its kernels) store. */
export const GPTQ_BITS = [2, 3, 4, 8] as const;

export type GptqCheckpointFormat = 'gptq' | 'gptq_v2';

/**
 * The checkpoint format a format string asks for: `auto_gptq` (also `auto_gptq:v1`) writes GPTQ v1,
 * which stores zero − 1; `auto_gptq:v2` (also `auto_gptq:gptq_v2`) writes GPTQModel's
 * `checkpoint_format: "gptq_v2"`, which stores the zero point as it is. null for anything else.
 */
export function gptqCheckpointFormat(format: string): GptqCheckpointFormat | null {
  const i = format.indexOf(':');
  const variant = i < 0 ? '' : format.slice(i + 1).trim().toLowerCase();
  if (variant === '' || variant === 'v1' || variant === 'gptq') return 'gptq';
  if (variant === 'v2' || variant === 'gptq_v2') return 'gptq_v2';
  return null;
}

/** The (bits, group_size, sym) a GPTQ config can record per layer. */
function gptqFields(s: QuantScheme): { bits: number; group_size: number; sym: boolean } {
  return { bits: s.bits, group_size: s.group_size, sym: s.sym };
}

function sameGptqFields(a: QuantScheme, b: QuantScheme): boolean {
  return a.bits === b.bits && a.group_size === b.group_size && a.sym === b.sym;
}

/**
 * quantization_config of the auto_gptq format (docs/formats/gptq-awq-llmc.md#auto_gptq-config): the scheme, the original's GPTQ
 * settings, `modules_in_block_to_quantize` when some block layers stay in full precision, and a
 * GPTQModel-style `dynamic` map ("+:regex" → per-layer bits/group_size/sym, "-:regex" → not
 * quantized) when layers differ from the global scheme.
 */
export function gptqQuantConfig(ctx: ExportContext, checkpointFormat: GptqCheckpointFormat = 'gptq'): Record<string, unknown> {
  const s = ctx.scheme;
  const qc: Record<string, unknown> = { bits: s.bits, group_size: s.group_size, sym: s.sym, data_type: s.data_type };
  // the original drops the dataset name (GPTQ loaders read "dataset" as their own calibration set)
  for (const [k, v] of Object.entries(ctx.quantArgs)) if (k !== 'dataset' && v !== undefined && v !== null && v !== '') qc[k] = v;

  const dynamic: Record<string, Record<string, unknown>> = {};
  for (const [name, ls] of ctx.layerSchemes) {
    if (!ls) {
      if (inBlocks(ctx, name)) dynamic[`-:${standardRegex(name)}`] = {};
    } else if (!inBlocks(ctx, name) || !sameGptqFields(ls, s)) {
      dynamic[`+:${standardRegex(name)}`] = gptqFields(ls);
    }
  }
  const skipped = keptInBlocks(ctx);
  qc.lm_head = quantizedOutsideBlocks(ctx).length > 0;
  qc.provider = 'auto-round';
  qc.quant_method = 'gptq';
  qc.desc_act = false;
  qc.true_sequential = false;
  qc.damp_percent = 0.01;
  qc.block_name_to_quantize = ctx.spec.blockListName;
  if (skipped.length > 0) {
    // optimum / AutoGPTQ read this to leave the other block layers unconverted
    const names: string[] = [];
    for (const b of ctx.spec.blocks) {
      for (const l of b.linears) if (ctx.layerSchemes.get(fullName(b, l)) && !names.includes(l.name)) names.push(l.name);
    }
    qc.modules_in_block_to_quantize = [names];
  }
  if (Object.keys(dynamic).length > 0) qc.dynamic = dynamic;
  if (checkpointFormat === 'gptq_v2') qc.checkpoint_format = 'gptq_v2';
  return qc;
}

interface GptqConfigJson {
  bits: number;
  group_size: number;
  checkpoint_format?: string;
  dynamic?: Record<string, { bits?: number; group_size?: number }>;
}

/** Per-layer (bits, group size) as GPTQModel resolves them: the first matching "+:" rule, else the global fields. */
export function gptqLayerParams(qc: GptqConfigJson): (layer: string) => GptqLayerParams {
  const rules = Object.entries(qc.dynamic ?? {})
    .filter(([k]) => k.startsWith('+:'))
    .map(([k, v]) => ({ k, re: new RegExp(`^(?:${k.slice(2)})`), v }));
  return (layer) => {
    const r = rules.find((x) => x.re.test(layer));
    const rule = r ? `quantization_config.dynamic[${JSON.stringify(r.k)}]` : '';
    return {
      bits: r?.v.bits ?? qc.bits,
      groupSize: r?.v.group_size ?? qc.group_size,
      bitsField: r?.v.bits !== undefined ? `${rule}.bits` : 'quantization_config.bits',
      groupSizeField: r?.v.group_size !== undefined ? `${rule}.group_size` : 'quantization_config.group_size',
    };
  };
}

export const autoGptqExporter: ExporterPlugin = {
  name: 'auto_gptq',
  aliases: ['autogptq', 'gptqmodel'],
  description: 'GPTQ format (quant_method "gptq"; auto_gptq = v1 zero−1, auto_gptq:v2 = checkpoint_format gptq_v2); loads in transformers, vLLM, SGLang, GPTQModel',
  check(scheme, format) {
    if (!gptqCheckpointFormat(format)) {
      return `unknown auto_gptq variant in "${format}" (use auto_gptq for GPTQ v1, or auto_gptq:v2 for checkpoint_format gptq_v2)`;
    }
    return intWeightOnlyProblem('auto_gptq', scheme, GPTQ_BITS);
  },
  open(ctx) {
    const err = autoGptqExporter.check(ctx.scheme, ctx.format);
    if (err) throw new AutoRoundError('E_FORMAT', `--format ${ctx.format}: ${err}`, { subject: '--format' });
    const cf = gptqCheckpointFormat(ctx.format)!;
    const asym = [ctx.scheme, ...ctx.layerSchemes.values()].some((s) => s && !s.sym);
    if (asym) {
      ctx.log.warn(
        'auto_gptq: the asymmetric kernel of the GPTQ format may result in a noticeable accuracy drop, particularly for 2-bit quantization and smaller models; auto_awq (4-bit only) or auto_round (2/3/4/8-bit) store asymmetric schemes without this issue',
      );
    }
    warnFusedMismatches(ctx, 'auto_gptq');
    return new GptqLayoutSession(ctx, { zeroMinusOne: cf === 'gptq', gIdx: true }, () => gptqQuantConfig(ctx, cf), {
      label: ctx.format,
      // AutoGPTQ reads quantize_config.json; the original writes the config there
      configFiles: ['quantize_config.json'],
    });
  },
  detect(config: HFConfig) {
    const qc = config.quantization_config as { quant_method?: string } | undefined;
    return qc?.quant_method === 'gptq';
  },
  read(dir: string, config: HFConfig) {
    const qc = config.quantization_config as GptqConfigJson;
    return new GptqLayoutWeights(Checkpoint.open(dir), gptqLayerParams(qc), qc.checkpoint_format !== 'gptq_v2');
  },
};
