import { join } from 'node:path';
import { Checkpoint, ShardedSafetensorsWriter, Tensor, isFloatDType } from '@autoround/core-tensor';
import { configLayerScheme, copySideFiles, type ExporterPlugin, type ExportContext, type ExportSession, type HFConfig, type QuantizedWeight, type WeightSource, writeJson, writeModelConfig } from '@autoround/core';
import { activationsOf, type StoredActivation } from '@autoround/quant-types';
import { autoRoundQuantConfig } from './quant-config.js';

/** Where a fake export keeps the static activation scales it records (docs/formats/fake.md#activations). */
const STATIC_SCALES = 'activation_scales';

class FakeSession implements ExportSession {
  private readonly writer: ShardedSafetensorsWriter;
  /** Static activation scales by layer (NVFP4's input_global_scale, FP8_STATIC's input_scale). */
  private readonly scales: Record<string, { input_global_scale?: number; input_scale?: number }> = {};
  constructor(private readonly ctx: ExportContext) {
    this.writer = new ShardedSafetensorsWriter(ctx.dir, { maxShardBytes: ctx.maxShardBytes });
  }

  writeQuantized(layer: string, q: QuantizedWeight): void {
    const src = this.ctx.checkpoint.info(`${layer}.weight`).dtype;
    const dtype = isFloatDType(src) ? src : 'F32';
    this.writer.addTensor(`${layer}.weight`, Tensor.castFromF32(dtype, Tensor.f32([...q.shape], q.qdq)));
    if (q.inputGlobalScale !== undefined || q.inputScale !== undefined) {
      this.scales[layer] = { ...(q.inputGlobalScale !== undefined ? { input_global_scale: q.inputGlobalScale } : {}), ...(q.inputScale !== undefined ? { input_scale: q.inputScale } : {}) };
    }
  }

  writeTensor(name: string, t: Tensor): void {
    this.writer.addTensor(name, t);
  }

  finish(): void {
    this.writer.close();
    // The scheme is recorded beside the model, not in config.json: a quantization_config there
    // would make transformers look for packed tensors that a fake export does not have.
    writeModelConfig(this.ctx.dir, this.ctx.config);
    const qc: Record<string, unknown> = { ...autoRoundQuantConfig(this.ctx, 'fake'), quant_method: 'fake' };
    if (Object.keys(this.scales).length > 0) qc[STATIC_SCALES] = this.scales;
    writeJson(join(this.ctx.dir, 'quantization_config.json'), qc);
    copySideFiles(this.ctx.sourceDir, this.ctx.dir);
  }
}

/**
 * A fake folder read back: its weights as they are, and, when the recorded scheme quantizes activations, the
 * activation QDQ of every quantized linear (the scheme of quantization_config.json and extra_config, the static
 * scales it records), so that evaluation measures the W4A4 / W8A8 model.
 */
function readFake(dir: string, config: HFConfig): WeightSource {
  const ck = Checkpoint.open(dir);
  const qc = config.quantization_config as Record<string, unknown> & { block_name_to_quantize?: unknown; extra_config?: Record<string, unknown> };
  const scales = (qc[STATIC_SCALES] ?? {}) as Record<string, { input_global_scale?: number; input_scale?: number }>;
  const blocks = typeof qc.block_name_to_quantize === 'string' ? qc.block_name_to_quantize.split(',') : [];
  const stored = new Map<string, StoredActivation>();
  for (const n of ck.names) {
    if (!n.endsWith('.weight') || ck.info(n).shape.length !== 2) continue;
    const layer = n.slice(0, -7);
    const inBlocks = blocks.some((b) => layer.startsWith(`${b}.`));
    if (!inBlocks && !qc.extra_config?.[layer]) continue;
    const scheme = configLayerScheme(qc, layer);
    if (scheme.bits >= 16 || scheme.act_bits >= 16) continue;
    const s = scales[layer];
    stored.set(layer, { scheme, ...(s?.input_global_scale !== undefined ? { inputGlobalScale: s.input_global_scale } : {}), ...(s?.input_scale !== undefined ? { inputScale: s.input_scale } : {}) });
  }
  // only the block linears and the layers extra_config names are quantized; the embedding and norms are not
  const activations = activationsOf(stored);
  if (!activations) return ck;
  return { has: (n) => ck.has(n), readFloat32: (n) => ck.readFloat32(n), activations };
}

export const fakeExporter: ExporterPlugin = {
  name: 'fake',
  description: 'dequantized (QDQ) weights in the source dtype; loads anywhere a float model loads',
  check: () => null,
  open: (ctx) => new FakeSession(ctx),
  detect: (config) => (config.quantization_config as { quant_method?: unknown } | undefined)?.quant_method === 'fake',
  read: readFake,
};
