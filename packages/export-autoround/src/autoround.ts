import {
  AutoRoundError,
  type ExporterPlugin,
  intWeightOnlyMismatch,
  isIntWeightOnly,
  type PackingPlugin,
  type QuantScheme,
} from "@autoround/core";
import { Checkpoint } from "@autoround/core-tensor";
import { fpDataTypeOf } from "@autoround/quant-types";
import {
  GptqLayoutSession,
  GptqLayoutWeights,
  warnFusedMismatches,
} from "@autoround/export-gptq";
import {
  autoRoundQuantConfig,
  GPTQ_LAYOUT_PACKINGS as PACKINGS,
  PACKING_PROVIDERS,
} from "./quant-config.js";

/**
 * The packing of a floating-point scheme (docs/formats/fp-formats.md#auto_round): MX and NVFP4 in the
 * compressed-tensors layout (the original's "auto_round:llm_compressor"), FP8 in auto_round:fp8_static; null for
 * the other schemes.
 */
export function fpPacking(s: QuantScheme): string | null {
  const t = s.bits < 16 ? fpDataTypeOf(s.data_type, s.bits) : null;
  if (!t) return null;
  return t.format.family === "fp8" ? "auto_round:fp8_static" : "auto_round:llm_compressor";
}

/** The packing the original picks when the user names only "auto_round": the fp layouts, else gptq-style for sym, plain for asym. */
export function defaultPacking(s: QuantScheme): string {
  return fpPacking(s) ?? (s.sym ? "auto_round:auto_gptq" : "auto_round");
}

/** The packing_format recorded: FP8 weight-only folders say "auto_round", as the original's FP8 export writes them. */
function recordedPacking(packing: string, s: QuantScheme): string {
  return packing === "auto_round:fp8_static" && s.act_bits >= 16 ? "auto_round" : packing;
}

function packingOf(format: string, s: QuantScheme): string {
  const f = format.trim().toLowerCase();
  return f === "auto_round" ? defaultPacking(s) : f;
}

/**
 * The auto_round exporter writing its own GPTQ-layout packings and the `packings` other plugins
 * contribute (export-awq's auto_round:auto_awq, export-llmc's auto_round:llm_compressor); the registry
 * builds it through `withPackings` with the installed ones.
 */
export function autoRoundExporterWith(
  packings: readonly PackingPlugin[]
): ExporterPlugin {
  const byName = new Map(packings.map((p) => [p.name.toLowerCase(), p]));
  const registeredPacking = (name: string) => byName.get(name.toLowerCase());
  const autoRoundPackings = () => [...PACKINGS, ...byName.keys()];
  const exporter: ExporterPlugin = {
    name: "auto_round",
    aliases: ["autoround", "auto-round"],
    description:
      'AutoRound format (quant_method "auto-round"); packings auto_gptq (default sym), plain (default asym), gptqmodel, auto_awq, llm_compressor; loads in transformers, vLLM and SGLang',
    check(scheme, format) {
      const packing = packingOf(format, scheme);
      const extra = registeredPacking(packing);
      if (!(PACKINGS as readonly string[]).includes(packing) && !extra) {
        const provider = PACKING_PROVIDERS[packing];
        if (provider)
          return `packing "${packing}" needs ${provider}, which is not installed`;
        return `packing "${format}" is not supported by this exporter (supported: auto_round, ${autoRoundPackings().join(
          ", "
        )})`;
      }
      const fp = fpPacking(scheme);
      if (fp !== null) {
        if (!extra) {
          const provider = PACKING_PROVIDERS[fp];
          return provider && !registeredPacking(fp)
            ? `floating-point schemes (data_type "${scheme.data_type}") are written through packing ${fp}, which needs ${provider}, which is not installed`
            : `packing "${packing}" stores integer schemes, not data_type "${scheme.data_type}"; use --format auto_round (packing ${fp})`;
        }
        return extra.check(scheme);
      }
      if (!isIntWeightOnly(scheme))
        return `the auto_round exporter writes integer weight-only schemes and the floating-point ones (mx_fp, mx_int, nv_fp, fp 8): ${intWeightOnlyMismatch(
          scheme, ['int', 'mx_fp', 'mx_int', 'nv_fp', 'fp']
        )}`;
      if (extra) return extra.check(scheme);
      if (![2, 3, 4, 8].includes(scheme.bits))
        return `auto_round packing supports bits 2, 3, 4 and 8, not ${scheme.bits}`;
      if (packing === "auto_round:auto_gptq" && !scheme.sym)
        return "auto_round:auto_gptq packing is for symmetric schemes; use auto_round for asym";
      return null;
    },
    open(ctx) {
      const packing = packingOf(ctx.format, ctx.scheme);
      const err = exporter.check(ctx.scheme, ctx.format);
      if (err)
        throw new AutoRoundError("E_FORMAT", `--format ${ctx.format}: ${err}`, {
          subject: "--format",
        });
      warnFusedMismatches(ctx, packing);
      const extra = registeredPacking(packing);
      if (extra)
        return extra.open(ctx, () => autoRoundQuantConfig(ctx, recordedPacking(packing, ctx.scheme)));
      return new GptqLayoutSession(
        ctx,
        {
          zeroMinusOne: packing === "auto_round:auto_gptq",
          gIdx: packing === "auto_round:gptqmodel",
        },
        () => autoRoundQuantConfig(ctx, packing),
        { label: packing }
      );
    },
    // every auto-round folder is ours to read: an unknown packing_format is reported by read(), naming
    // that field, rather than as a quant_method no installed format reads
    detect: (config) =>
      (config.quantization_config as { quant_method?: string } | undefined)
        ?.quant_method === "auto-round",
    read(dir, config) {
      const qc = config.quantization_config as {
        bits: number;
        group_size: number;
        packing_format?: unknown;
        data_type?: unknown;
        extra_config?: Record<string, { bits?: number; group_size?: number }>;
      };
      let packing =
        typeof qc.packing_format === "string" ? qc.packing_format : "";
      // an FP8 weight-only folder records "auto_round" (recordedPacking)
      if (packing === "auto_round" && typeof qc.data_type === "string" && typeof qc.bits === "number" && fpPacking({ ...(qc as unknown as QuantScheme) }) === "auto_round:fp8_static")
        packing = "auto_round:fp8_static";
      const extra = registeredPacking(packing);
      if (extra) return extra.read(dir, config);
      if (!(PACKINGS as readonly string[]).includes(packing)) {
        const provider = PACKING_PROVIDERS[packing];
        const why = provider
          ? `needs ${provider}, which is not installed`
          : `is not a packing this reader knows (${autoRoundPackings().join(
              ", "
            )})`;
        throw new AutoRoundError(
          "E_UNSUPPORTED",
          `${dir}: quantization_config.packing_format ${JSON.stringify(
            qc.packing_format ?? null
          )} in config.json ${why}`,
          { subject: dir }
        );
      }
      const paramsOf = (layer: string) => {
        const e = qc.extra_config?.[layer];
        const field = `quantization_config.extra_config[${JSON.stringify(
          layer
        )}]`;
        return {
          bits: e?.bits ?? qc.bits,
          groupSize: e?.group_size ?? qc.group_size,
          bitsField:
            e?.bits !== undefined
              ? `${field}.bits`
              : "quantization_config.bits",
          groupSizeField:
            e?.group_size !== undefined
              ? `${field}.group_size`
              : "quantization_config.group_size",
        };
      };
      return new GptqLayoutWeights(
        Checkpoint.open(dir),
        paramsOf,
        packing === "auto_round:auto_gptq"
      );
    },
    withPackings: autoRoundExporterWith,
  };
  return exporter;
}

/** The auto_round exporter with only the packings of this package (a registry hands it the installed ones). */
export const autoRoundExporter = autoRoundExporterWith([]);
