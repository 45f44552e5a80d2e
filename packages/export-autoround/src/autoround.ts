import { AutoRoundError, type ExporterPlugin, isIntWeightOnly, type QuantScheme } from '@autoround/core';
import { Checkpoint } from '@autoround/core-tensor';
import { GptqLayoutSession, GptqLayoutWeights } from '@autoround/export-gptq';
import { autoRoundQuantConfig } from './quant-config.js';

/** Packings of the auto_round format this package writes; the others arrive with their exporters. */
const PACKINGS = ['auto_round:auto_gptq', 'auto_round', 'auto_round:gptqmodel'] as const;

/** The packing the original picks when the user names only "auto_round": gptq-style for sym, plain for asym. */
export function defaultPacking(s: QuantScheme): string {
  return s.sym ? 'auto_round:auto_gptq' : 'auto_round';
}

function packingOf(format: string, s: QuantScheme): string {
  const f = format.trim().toLowerCase();
  return f === 'auto_round' ? defaultPacking(s) : f;
}

export const autoRoundExporter: ExporterPlugin = {
  name: 'auto_round',
  aliases: ['autoround', 'auto-round'],
  description: 'AutoRound format (quant_method "auto-round"), GPTQ-style packing; loads in transformers, vLLM and SGLang',
  check(scheme, format) {
    const packing = packingOf(format, scheme);
    if (!(PACKINGS as readonly string[]).includes(packing)) {
      return `packing "${format}" is not supported by this exporter (supported: auto_round, ${PACKINGS.join(', ')})`;
    }
    if (!isIntWeightOnly(scheme)) return `the auto_round exporter writes integer weight-only schemes; "${scheme.data_type}" with act_bits ${scheme.act_bits} is not supported yet`;
    if (![2, 3, 4, 8].includes(scheme.bits)) return `auto_round packing supports bits 2, 3, 4 and 8, not ${scheme.bits}`;
    if (packing === 'auto_round:auto_gptq' && !scheme.sym) return 'auto_round:auto_gptq packing is for symmetric schemes; use auto_round for asym';
    return null;
  },
  open(ctx) {
    const packing = packingOf(ctx.format, ctx.scheme);
    const err = autoRoundExporter.check(ctx.scheme, ctx.format);
    if (err) throw new AutoRoundError('E_FORMAT', `--format ${ctx.format}: ${err}`, { subject: '--format' });
    return new GptqLayoutSession(
      ctx,
      { zeroMinusOne: packing === 'auto_round:auto_gptq', gIdx: packing === 'auto_round:gptqmodel' },
      () => autoRoundQuantConfig(ctx, packing),
    );
  },
  detect: (config) => {
    const qc = config.quantization_config as { quant_method?: string; packing_format?: string } | undefined;
    return qc?.quant_method === 'auto-round' && (PACKINGS as readonly string[]).includes(qc.packing_format ?? '');
  },
  read(dir, config) {
    const qc = config.quantization_config as { bits: number; group_size: number; packing_format: string; extra_config?: Record<string, { bits?: number; group_size?: number }> };
    const paramsOf = (layer: string) => ({ bits: qc.extra_config?.[layer]?.bits ?? qc.bits, groupSize: qc.extra_config?.[layer]?.group_size ?? qc.group_size });
    return new GptqLayoutWeights(Checkpoint.open(dir), paramsOf, qc.packing_format === 'auto_round:auto_gptq');
  },
};
