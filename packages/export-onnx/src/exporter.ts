import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '@autoround/core-tensor';
import {
  AutoRoundError,
  copySideFiles,
  type ExportContext,
  type ExporterPlugin,
  type ExportSession,
  type HFConfig,
  isAutoRoundError,
  isIntWeightOnly,
  type QuantizedWeight,
  type QuantScheme,
  writeModelConfig,
} from '@autoround/core';
import { buildDecoderGraph, type DecoderWeights, onnxVariant, ONNX_ARCHITECTURES } from './graph.js';
import { type ExternalDataMode, PROTOBUF_LIMIT, writeModelFile } from './model-file.js';
import { MATMULNBITS_BITS, MATMULNBITS_BLOCK_SIZES } from './pack.js';

/** transformers.js's dtypes and the file suffix it looks for (its DEFAULT_DTYPE_SUFFIX_MAPPING; docs/formats/onnx.md#files). */
export const ONNX_DTYPES = {
  fp32: { suffix: '', bits: null, float16: false },
  q8: { suffix: '_quantized', bits: 8, float16: false },
  q4: { suffix: '_q4', bits: 4, float16: false },
  q2: { suffix: '_q2', bits: 2, float16: false },
  fp16: { suffix: '_fp16', bits: null, float16: true },
  q4f16: { suffix: '_q4f16', bits: 4, float16: true },
  q2f16: { suffix: '_q2f16', bits: 2, float16: true },
} as const;
export type OnnxDtype = keyof typeof ONNX_DTYPES;

/** What a format string `onnx[:dtype][:accuracy_level=N][:external_data=auto|on|off]` asks for. */
export interface OnnxFormat {
  /** The dtype named, or null for plain `onnx` (decided by the scheme's bits). */
  readonly dtype: OnnxDtype | null;
  readonly accuracyLevel: number;
  readonly externalData: ExternalDataMode;
}

export function parseOnnxFormat(format: string): OnnxFormat | string {
  const parts = format.split(':').map((s) => s.trim().toLowerCase());
  let dtype: OnnxDtype | null = null;
  let accuracyLevel = 0;
  let externalData: ExternalDataMode = 'auto';
  for (const p of parts.slice(1)) {
    if (p in ONNX_DTYPES) {
      if (dtype) return `two dtypes in "${format}"`;
      dtype = p as OnnxDtype;
    } else if (p.startsWith('accuracy_level=')) {
      const v = Number(p.slice('accuracy_level='.length));
      if (!Number.isInteger(v) || v < 0 || v > 4) return `accuracy_level must be 0…4 (MatMulNBits: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8), got "${p.slice(15)}"`;
      accuracyLevel = v;
    } else if (p.startsWith('external_data=')) {
      const v = p.slice('external_data='.length);
      if (v !== 'auto' && v !== 'on' && v !== 'off') return `external_data must be auto, on or off, got "${v}"`;
      externalData = v;
    } else {
      return `unknown part "${p}" in "${format}" (dtypes: ${Object.keys(ONNX_DTYPES).join(', ')}; options accuracy_level=0…4, external_data=auto|on|off)`;
    }
  }
  return { dtype, accuracyLevel, externalData };
}

/** The dtype a run writes: the one named, else q<bits> for an integer scheme MatMulNBits holds, else fp32. */
export function onnxDtype(f: OnnxFormat, scheme: QuantScheme): OnnxDtype {
  if (f.dtype) return f.dtype;
  if (isIntWeightOnly(scheme) && (MATMULNBITS_BITS as readonly number[]).includes(scheme.bits)) return `q${scheme.bits}` as OnnxDtype;
  return 'fp32';
}

function schemeProblem(s: QuantScheme, dtype: OnnxDtype, where: string): string | null {
  const want = ONNX_DTYPES[dtype].bits;
  if (want === null) return null; // fp32 / fp16: the QDQ weights as they are (fp16: rounded), whatever the scheme
  if (!isIntWeightOnly(s)) return `onnx:${dtype} stores integer weight-only schemes in MatMulNBits; ${where} is ${s.data_type}${s.bits}${s.act_bits < 16 ? ` with ${s.act_bits}-bit activations` : ''} (use onnx:fp32 for its QDQ weights)`;
  if (!(MATMULNBITS_BITS as readonly number[]).includes(s.bits)) return `MatMulNBits stores bits ${MATMULNBITS_BITS.join(', ')}, ${where} has ${s.bits}`;
  if (!(MATMULNBITS_BLOCK_SIZES as readonly number[]).includes(s.group_size)) {
    return `MatMulNBits takes block sizes ${MATMULNBITS_BLOCK_SIZES.join(', ')} (--group_size), ${where} has group_size ${s.group_size}`;
  }
  return null;
}

export const onnxExporter: ExporterPlugin = {
  name: 'onnx',
  description: 'ONNX decoder with a KV cache for transformers.js / onnxruntime (onnx/model_q4.onnx, model_q4f16.onnx …): quantized linears as com.microsoft MatMulNBits with the tuned codes; fp16/q4f16/q2f16 compute in float16',
  check(scheme, format) {
    const f = parseOnnxFormat(format);
    if (typeof f === 'string') return f;
    const dtype = onnxDtype(f, scheme);
    const want = ONNX_DTYPES[dtype].bits;
    if (want !== null && scheme.bits !== want) return `onnx:${dtype} holds ${want}-bit weights, the scheme has --bits ${scheme.bits}`;
    return schemeProblem(scheme, dtype, 'the scheme');
  },
  open(ctx) {
    const err = onnxExporter.check(ctx.scheme, ctx.format);
    if (err) throw new AutoRoundError('E_FORMAT', `--format ${ctx.format}: ${err}`, { subject: '--format' });
    if (!onnxVariant(ctx.config)) {
      throw new AutoRoundError('E_FORMAT', `--format ${ctx.format}: architecture "${ctx.config.architectures?.[0] ?? ''}" has no onnx graph yet (supported: ${ONNX_ARCHITECTURES.join(', ')})`, { subject: '--format' });
    }
    const f = parseOnnxFormat(ctx.format) as OnnxFormat;
    const dtype = onnxDtype(f, ctx.scheme);
    for (const [name, s] of ctx.layerSchemes) {
      const p = s && schemeProblem(s, dtype, `layer ${name}`);
      if (p) throw new AutoRoundError(p.includes('block sizes') ? 'E_GROUP_SIZE' : 'E_FORMAT', `--format ${ctx.format}: ${p}`, { subject: '--format' });
    }
    // the file's size is known from the checkpoint before anything is quantized
    if (f.externalData === 'off') {
      const est = estimateBytes(ctx, dtype);
      if (est > PROTOBUF_LIMIT) {
        throw new AutoRoundError('E_TOO_LARGE', `--format ${ctx.format}: the model needs about ${(est / 2 ** 30).toFixed(2)} GiB of weights, over protobuf's 2 GiB limit for one .onnx file; remove external_data=off`, { subject: '--format' });
      }
    }
    return new OnnxSession(ctx, dtype, f);
  },
};

/** Bytes of weights the file will hold (MatMulNBits: codes, scales, zero points; the rest float32, or float16 for the f16 dtypes). */
function estimateBytes(ctx: ExportContext, dtype: OnnxDtype): number {
  let n = 0;
  const packed = ONNX_DTYPES[dtype].bits !== null;
  const fb = ONNX_DTYPES[dtype].float16 ? 2 : 4;
  for (const name of ctx.checkpoint.names) {
    const numel = ctx.checkpoint.info(name).shape.reduce((a, b) => a * b, 1);
    const layer = name.endsWith('.weight') ? name.slice(0, -7) : '';
    const s = layer ? ctx.layerSchemes.get(layer) : null;
    n += s && packed ? (numel * s.bits) / 8 + (numel / s.group_size) * (fb + s.bits / 8) : fb * numel;
  }
  if (ctx.config.tie_word_embeddings === true && ctx.checkpoint.has('model.embed_tokens.weight')) n += fb * ctx.checkpoint.info('model.embed_tokens.weight').shape.reduce((a, b) => a * b, 1);
  return n;
}

class OnnxSession implements ExportSession {
  private readonly floats = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  private readonly quant = new Map<string, QuantizedWeight>();

  constructor(
    private readonly ctx: ExportContext,
    private readonly dtype: OnnxDtype,
    private readonly format: OnnxFormat,
  ) {}

  writeQuantized(layer: string, q: QuantizedWeight): void {
    this.quant.set(layer, q);
  }

  writeTensor(name: string, t: Tensor): void {
    // a copy: the graph is built at the end, and a caller may reuse the buffer it read the tensor into
    this.floats.set(name, { data: Float32Array.from(t.toFloat32().data as Float32Array), shape: [...t.shape] });
  }

  finish(): void {
    const { ctx } = this;
    writeOnnxFolder(ctx.dir, ctx.sourceDir, ctx.config, { float: (n) => this.floats.get(n), quantized: (l) => this.quant.get(l) }, this.dtype, this.format, ctx.format);
  }
}

/**
 * The folder transformers.js loads by name (docs/formats/onnx.md#files): onnx/model<suffix>.onnx (+ _data), config.json
 * with `transformers.js_config`, and the tokenizer and generation files of `sourceDir`. The exporter's session ends
 * here; tools/onnx builds its comparison models (fp32, transformers.js's own recipe) through it too.
 */
export function writeOnnxFolder(dir: string, sourceDir: string, config: HFConfig, weights: DecoderWeights, dtype: OnnxDtype, format: Pick<OnnxFormat, 'accuracyLevel' | 'externalData'>, label = `onnx:${dtype}`): string[] {
  const graph = buildDecoderGraph(config, weights, { packed: ONNX_DTYPES[dtype].bits !== null, accuracyLevel: format.accuracyLevel, float16: ONNX_DTYPES[dtype].float16 });
  const file = `model${ONNX_DTYPES[dtype].suffix}.onnx`;
  try {
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    const written = writeModelFile(join(dir, 'onnx', file), graph, { externalData: format.externalData });
    // transformers.js reads its defaults for this folder from config.json (docs/formats/onnx.md#config)
    const tjs: Record<string, unknown> = { dtype };
    if (written.length > 1) tjs.use_external_data_format = true;
    writeModelConfig(dir, { ...config, use_cache: true, 'transformers.js_config': tjs });
    copySideFiles(sourceDir, dir);
    return written;
  } catch (e) {
    if (isAutoRoundError(e)) throw e;
    throw new AutoRoundError('E_WRITE', `${label}: writing onnx/${file} into ${dir} failed: ${(e as Error).message}`, { subject: dir, cause: e });
  }
}
