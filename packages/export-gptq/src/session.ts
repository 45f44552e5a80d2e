import { join } from 'node:path';
import { type DType, ShardedSafetensorsWriter, Tensor, f16BitsToF32, f32ToF16Bits } from '@autoround/core-tensor';
import {
  AutoRoundError,
  copySideFiles,
  type ExportContext,
  type ExportSession,
  isAutoRoundError,
  type QuantizedWeight,
  writeJson,
  writeModelConfig,
} from '@autoround/core';
import { type GptqPackOptions, packGptq } from './pack.js';


/** One tensor a packed layer writes: `<layer>.<suffix>`. */
export interface PackedTensor {
  suffix: string;
  dtype: DType;
  shape: readonly number[];
  data: ArrayBufferView;
}

export interface PackedSessionOptions {
  /** The format, as messages name it ("auto_gptq"). */
  label?: string;
  /** Files beside config.json that also receive the quantization config (default quantization_config.json). */
  configFiles?: readonly string[];
  /** Store the biases of packed layers as fp16, as GPTQ and AWQ kernels read them (default true). */
  biasF16?: boolean;
}

/**
 * The part every packed-integer exporter shares: a sharded safetensors writer that streams each
 * tensor to disk as it comes (memory: one layer, not one shard), kept tensors copied in their source dtype, biases of packed layers in fp16 where the
 * kernels want it, write errors reported with the format and folder, and config + side files at
 * the end. Subclasses only say how one layer is packed.
 */
export abstract class PackedLayoutSession implements ExportSession {
  protected readonly writer: ShardedSafetensorsWriter;
  protected readonly quantized = new Set<string>();
  protected readonly label: string;
  private readonly configFiles: readonly string[];
  private readonly biasF16: boolean;
  private inexactScales = 0;
  private readonly inexactLayers = new Set<string>();

  constructor(
    protected readonly ctx: ExportContext,
    private readonly quantizationConfig: () => Record<string, unknown>,
    options: PackedSessionOptions = {},
  ) {
    this.label = options.label ?? ctx.format;
    this.configFiles = options.configFiles ?? ['quantization_config.json'];
    this.biasF16 = options.biasF16 ?? true;
    this.writer = new ShardedSafetensorsWriter(ctx.dir, { maxShardBytes: ctx.maxShardBytes });
    for (const [name, s] of ctx.layerSchemes) if (s) this.quantized.add(name);
  }

  /** The tensors that store one quantized layer. */
  protected abstract pack(layer: string, q: QuantizedWeight): PackedTensor[];

  writeQuantized(layer: string, q: QuantizedWeight): void {
    for (const t of this.pack(layer, q)) this.add(`${layer}.${t.suffix}`, t.dtype, t.shape, t.data);
  }

  writeTensor(name: string, t: Tensor): void {
    if (this.biasF16 && name.endsWith('.bias') && this.quantized.has(name.slice(0, -5)) && t.dtype !== 'F16') {
      const h = Tensor.castFromF32('F16', t.toFloat32());
      this.add(name, h.dtype, h.shape, h.data);
      return;
    }
    this.add(name, t.dtype, t.shape, t.data);
  }

  /** Adds one tensor; a failing shard write names the format, tensor and folder. */
  protected add(name: string, dtype: DType, shape: readonly number[], data: ArrayBufferView): void {
    this.guard(`writing ${name}`, () => this.writer.add(name, dtype, shape, data));
  }

  private guard<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (isAutoRoundError(e)) throw e;
      throw new AutoRoundError('E_WRITE', `${this.label}: ${what} into ${this.ctx.dir} failed: ${(e as Error).message}`, { subject: this.ctx.dir, cause: e });
    }
  }

  /** fp16 scale bits, counting the scales fp16 cannot hold exactly (reported once at the end). */
  protected fp16Scale(layer: string, v: number): number {
    const h = f32ToF16Bits(v);
    if (f16BitsToF32(h) !== v) {
      this.inexactScales++;
      this.inexactLayers.add(layer);
    }
    return h;
  }

  finish(): void {
    if (this.inexactScales > 0) {
      const names = [...this.inexactLayers];
      const shown = names.length > 3 ? `${names.slice(0, 3).join(', ')} …` : names.join(', ');
      this.ctx.log.warn(
        `${this.label}: ${this.inexactScales} scales (in ${shown}) are not exact in fp16, which this format stores; they were rounded, so the packed model differs slightly from the fake export (use --scale_dtype fp16)`,
      );
    }
    this.guard('closing the shards', () => this.writer.close());
    const qc = this.quantizationConfig();
    this.guard('writing config.json', () => {
      writeModelConfig(this.ctx.dir, this.ctx.config, qc);
      for (const f of this.configFiles) writeJson(join(this.ctx.dir, f), qc);
      copySideFiles(this.ctx.sourceDir, this.ctx.dir);
    });
  }
}

/**
 * An export session for the GPTQ tensor layout (used by auto_gptq and by auto_round's
 * auto_gptq / gptqmodel / plain packings): qweight, qzeros, scales (+ g_idx) per layer.
 */
export class GptqLayoutSession extends PackedLayoutSession {
  private wrapped = 0;
  private readonly wrappedLayers = new Set<string>();

  constructor(
    ctx: ExportContext,
    private readonly packing: GptqPackOptions,
    quantizationConfig: () => Record<string, unknown>,
    options: PackedSessionOptions = {},
  ) {
    super(ctx, quantizationConfig, options);
  }

  protected pack(layer: string, q: QuantizedWeight): PackedTensor[] {
    const t = packGptq(q, { ...this.packing, scaleBits: (v) => this.fp16Scale(layer, v) });
    if (t.wrappedZeros > 0) {
      this.wrapped += t.wrappedZeros;
      this.wrappedLayers.add(layer);
    }
    const [out, inF] = q.shape;
    const b = q.scheme.bits;
    const res: PackedTensor[] = [
      { suffix: 'qweight', dtype: 'I32', shape: [(inF * b) / 32, out], data: t.qweight },
      { suffix: 'qzeros', dtype: 'I32', shape: [t.nGroups, (out * b) / 32], data: t.qzeros },
      { suffix: 'scales', dtype: 'F16', shape: [t.nGroups, out], data: t.scales },
    ];
    if (t.gIdx) res.push({ suffix: 'g_idx', dtype: 'I32', shape: [inF], data: t.gIdx });
    return res;
  }

  override finish(): void {
    if (this.wrapped > 0) {
      const names = [...this.wrappedLayers];
      this.ctx.log.warn(
        `${this.label}: ${this.wrapped} groups (in ${names.slice(0, 3).join(', ')}${names.length > 3 ? ' …' : ''}) have zero point 0, which GPTQ v1 stores as zero − 1 and so wraps to ${'2^bits − 1'}: kernels decode those groups wrongly (the known asym GPTQ v1 issue); use auto_gptq:v2, auto_awq or auto_round for asymmetric schemes`,
      );
    }
    super.finish();
  }
}
