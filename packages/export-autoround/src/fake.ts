import { join } from 'node:path';
import { ShardedSafetensorsWriter, Tensor, isFloatDType } from '@autoround/core-tensor';
import { copySideFiles, type ExporterPlugin, type ExportContext, type ExportSession, type QuantizedWeight, writeJson, writeModelConfig } from '@autoround/core';
import { autoRoundQuantConfig } from './quant-config.js';

class FakeSession implements ExportSession {
  private readonly writer: ShardedSafetensorsWriter;
  constructor(private readonly ctx: ExportContext) {
    this.writer = new ShardedSafetensorsWriter(ctx.dir, { maxShardBytes: ctx.maxShardBytes });
  }

  writeQuantized(layer: string, q: QuantizedWeight): void {
    const src = this.ctx.checkpoint.info(`${layer}.weight`).dtype;
    const dtype = isFloatDType(src) ? src : 'F32';
    this.writer.addTensor(`${layer}.weight`, Tensor.castFromF32(dtype, Tensor.f32([...q.shape], q.qdq)));
  }

  writeTensor(name: string, t: Tensor): void {
    this.writer.addTensor(name, t);
  }

  finish(): void {
    this.writer.close();
    // The scheme is recorded beside the model, not in config.json: a quantization_config there
    // would make transformers look for packed tensors that a fake export does not have.
    writeModelConfig(this.ctx.dir, this.ctx.config);
    writeJson(join(this.ctx.dir, 'quantization_config.json'), { ...autoRoundQuantConfig(this.ctx, 'fake'), quant_method: 'fake' });
    copySideFiles(this.ctx.sourceDir, this.ctx.dir);
  }
}

export const fakeExporter: ExporterPlugin = {
  name: 'fake',
  description: 'dequantized (QDQ) weights in the source dtype; loads anywhere a float model loads',
  check: () => null,
  open: (ctx) => new FakeSession(ctx),
};
