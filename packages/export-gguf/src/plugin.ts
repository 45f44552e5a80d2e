// The 'gguf' exporter: --format gguf:q4_k_m (and every other file type of FILE_TYPES).

import { basename, join } from 'node:path';
import { AutoRoundError } from '@autoround/core-tensor';
import { copySideFiles, writeJson, writeModelConfig } from '@autoround/core';
import type { ExportContext, ExporterPlugin, ExportSession, HFConfig, QuantizedWeight, QuantScheme, WeightSource } from '@autoround/core';
import type { Tensor } from '@autoround/core-tensor';
import { ggmlTypeName, ggmlTypeOfScheme, ggufBlocksOf, isGgufDataType } from '@autoround/quant-types';
import { fileTypeByName, fileTypeNames, type FileType } from './ftype.js';
import { GgufTensorSink, planGguf } from './export.js';
import { ggufSelectionOverrides } from './layer-types.js';
import { ggufPlanningHooks } from './plan.js';
import { GGUF_QUANT_METHOD, ggufFileOf, readGgufWeights } from './read.js';

/** The file type named by a format string ("gguf:q4_k_m" → Q4_K_M); null when none is given. */
export function fileTypeOfFormat(format: string): FileType | null {
  const i = format.indexOf(':');
  if (i < 0) return null;
  const name = format.slice(i + 1).trim();
  if (!name) return null;
  const t = fileTypeByName(name);
  if (!t) throw new AutoRoundError('E_FORMAT', `unknown GGUF type "${name}" in --format ${format} (known: ${fileTypeNames().map((n) => `gguf:${n}`).join(', ')})`, { subject: '--format' });
  return t;
}

function checkFormat(format: string): string | null {
  try {
    if (!fileTypeOfFormat(format)) return `--format ${format}: name the GGUF type, e.g. gguf:q4_k_m (known: ${fileTypeNames().join(', ')})`;
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Why a GGUF file cannot hold `s` (null when it can): GGUF stores weights only (llama.cpp quantizes
 * activations its own way), in its block types: int and the GGUF data types, and mx_fp as MXFP4 blocks.
 */
export function ggufSchemeMismatch(s: QuantScheme): string | null {
  if (s.bits >= 16) return null;
  const scheme = `--scheme with data_type "${s.data_type}", ${s.bits} bits`;
  if (s.act_bits < 16) {
    return `${scheme} and act_bits ${s.act_bits} (activation quantization, act_data_type "${s.act_data_type}"): a GGUF file stores weights only, llama.cpp quantizes activations its own way; use a format that records activation quantization (auto_round, llm_compressor, fake)${s.data_type === 'mx_fp' && s.bits === 4 ? ', or --format gguf:mxfp4 without --scheme for MXFP4 weights' : ''}`;
  }
  if (s.data_type === 'int' || isGgufDataType(s.data_type)) return null;
  if (ggmlTypeOfScheme(s, true) !== null) return null;
  if (s.data_type === 'mx_fp') return `${scheme}, group_size ${s.group_size}: llama.cpp's only MX block type is MXFP4 (4 bits, groups of 32, --format gguf:mxfp4)`;
  return `${scheme}: no GGUF block type stores this data type (GGUF holds int, the GGUF k-quant types and MXFP4)`;
}

/** Whether the host's algorithm calibrates, i.e. delivers importance vectors with its layers. */
function calibrates(ctx: ExportContext): boolean {
  return ctx.quantArgs.nsamples !== undefined && ctx.quantArgs.nsamples !== null;
}

class GgufSession implements ExportSession {
  private readonly sink: GgufTensorSink;
  private readonly file: string;
  private readonly fileType: FileType;
  private fromAlgorithm = 0;
  private requantized = 0;
  private withImatrix = 0;

  constructor(private readonly ctx: ExportContext) {
    const fileType = fileTypeOfFormat(ctx.format)!;
    this.fileType = fileType;
    const ck = ctx.checkpoint;
    // layers the selection keeps in full precision or gives their own scheme (--fp_layers,
    // --layer_config) are not left to the file type's mix; algorithms plan the same types
    const overrides = ggufSelectionOverrides({ checkpoint: ck, layerSchemes: ctx.layerSchemes, scheme: ctx.scheme }, fileType);
    const plan = planGguf({
      config: ctx.config,
      modelDir: ctx.sourceDir,
      sourceTensors: ck.names.map((n) => ({ name: n, shape: ck.info(n).shape })),
      fileType,
      hasImatrix: !!ctx.imatrix || calibrates(ctx),
      overrides,
      log: ctx.log,
    });
    const forced = plan.tensors.filter((t) => t.overridden);
    if (forced.length > 0) {
      const shown = forced.slice(0, 8).map((t) => `${t.name} ${ggmlTypeName(t.type)}`);
      ctx.log.info(`gguf: ${forced.length} tensor${forced.length > 1 ? 's' : ''} typed by the layer selection (--fp_layers / --layer_config): ${shown.join(', ')}${forced.length > 8 ? ` and ${forced.length - 8} more` : ''}`);
    }
    this.file = join(ctx.dir, `${plan.modelName}-${fileType.name}.gguf`);
    this.sink = new GgufTensorSink(plan, this.file, ctx.imatrix, ctx.log);
    ctx.log.info(`gguf: writing ${this.file} (${fileType.name}, ${plan.tensors.length} tensors)`);
  }

  /**
   * An algorithm's result: when it quantized the layer to the type this file stores (its
   * `blocks`), those bytes are written as they are; otherwise the layer is quantized here from
   * its float weight, with the importance vector the algorithm attached (`imatrix`), if any.
   */
  writeQuantized(layerName: string, q: QuantizedWeight): void {
    const hf = `${layerName}.weight`;
    const t = this.sink.planned(hf);
    if (!t || !this.sink.wants(hf)) {
      this.ctx.log.debug(`gguf: ${layerName} is not written to GGUF`);
      return;
    }
    const g = ggufBlocksOf(q, layerName);
    const im = q.imatrix ?? null;
    if (im) this.withImatrix++;
    if (g && g.type === t.type) {
      this.sink.putQuantized(hf, g.type, g.data, q.shape);
      this.fromAlgorithm++;
      return;
    }
    if (g) this.ctx.log.warn(`gguf: ${layerName} was quantized to ${g.typeName}, the ${this.fileType.name} file stores ${ggmlTypeName(t.type)}: quantizing it again from the float weight`);
    this.sink.putTensor(hf, this.ctx.checkpoint.read(hf), im);
    this.requantized++;
  }

  writeTensor(name: string, t: Tensor): void {
    if (!this.sink.wants(name)) {
      this.ctx.log.debug(`gguf: ${name} is not written to GGUF`);
      return;
    }
    // widened a piece of rows at a time: a float32 copy of the embedding would be most of the export's memory
    this.sink.putTensor(name, t);
  }

  finish(): void {
    const ck = this.ctx.checkpoint;
    this.sink.finish((n) => ck.read(n));
    if (this.fromAlgorithm + this.requantized > 0) {
      this.ctx.log.info(`gguf: ${this.fromAlgorithm} layers written as the algorithm quantized them, ${this.requantized} quantized from float weights; ${this.withImatrix} with an importance matrix`);
    }
    this.writeSideFiles();
  }

  /**
   * config.json (with a quantization_config naming the file, which is how `detect` recognises the
   * folder), the tokenizer files, and a model.safetensors.index.json mapping every tensor to the
   * .gguf file, so that hosts that open a folder as a checkpoint find every weight's name; the
   * weights themselves are read through `read`.
   */
  private writeSideFiles(): void {
    const dir = this.ctx.dir;
    const name = basename(this.file);
    const qc: Record<string, unknown> = { quant_method: GGUF_QUANT_METHOD, gguf_file: name, file_type: this.fileType.name };
    for (const [k, v] of Object.entries(this.ctx.quantArgs)) if (v !== undefined && v !== null && v !== '') qc[k] = v;
    writeModelConfig(dir, this.ctx.config, qc);
    copySideFiles(this.ctx.sourceDir, dir);
    const weightMap: Record<string, string> = {};
    for (const t of this.sink.plan.tensors) for (const n of t.hfName ? [t.hfName] : (t.parts ?? [])) weightMap[n] = name;
    writeJson(join(dir, 'model.safetensors.index.json'), { metadata: { format: 'gguf', note: `the weights are the tensors of ${name} (GGUF, read it with llama.cpp or @autoround/export-gguf)` }, weight_map: weightMap });
  }
}

export const ggufExporter: ExporterPlugin = {
  name: 'gguf',
  description: 'GGUF for llama.cpp (gguf:q4_k_m, q2_k_s … q6_k, q4_0 … q8_0, mxfp4, bf16, f16, f32), llama.cpp quantizers (with an importance matrix after calibration) and tensor mixes',
  check(scheme: QuantScheme, format: string): string | null {
    return checkFormat(format) ?? ggufSchemeMismatch(scheme);
  },
  ...ggufPlanningHooks,
  open(ctx: ExportContext): ExportSession {
    return new GgufSession(ctx);
  },
  detect(config: HFConfig): boolean {
    return (config.quantization_config as { quant_method?: unknown } | undefined)?.quant_method === GGUF_QUANT_METHOD;
  },
  read(dir: string, config: HFConfig): WeightSource {
    return readGgufWeights(ggufFileOf(dir, config), config);
  },
};
