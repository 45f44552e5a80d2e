import { join } from 'node:path';
import { ShardedSafetensorsWriter, Tensor } from '@autoround/core-tensor';
import { copySideFiles, type ExportContext, type ExportSession, type QuantizedWeight, writeJson, writeModelConfig } from '@autoround/core';
import { type GptqPackOptions, packGptq } from './pack.js';

/**
 * An export session for the GPTQ tensor layout (used by auto_gptq and by auto_round's
 * auto_gptq / gptqmodel / plain packings): qweight, qzeros, scales (+ g_idx) per layer.
 */
export class GptqLayoutSession implements ExportSession {
  private readonly writer: ShardedSafetensorsWriter;
  private readonly quantized = new Set<string>();

  constructor(
    private readonly ctx: ExportContext,
    private readonly pack: GptqPackOptions,
    private readonly quantizationConfig: () => Record<string, unknown>,
  ) {
    this.writer = new ShardedSafetensorsWriter(ctx.dir, { maxShardBytes: ctx.maxShardBytes });
    for (const [name, s] of ctx.layerSchemes) if (s) this.quantized.add(name);
  }

  writeQuantized(layer: string, q: QuantizedWeight): void {
    const t = packGptq(q, this.pack);
    const [out, inF] = q.shape;
    const b = q.scheme.bits;
    this.writer.add(`${layer}.qweight`, 'I32', [(inF * b) / 32, out], t.qweight);
    this.writer.add(`${layer}.qzeros`, 'I32', [t.nGroups, (out * b) / 32], t.qzeros);
    this.writer.add(`${layer}.scales`, 'F16', [t.nGroups, out], t.scales);
    if (t.gIdx) this.writer.add(`${layer}.g_idx`, 'I32', [inF], t.gIdx);
  }

  writeTensor(name: string, t: Tensor): void {
    // biases of packed layers are stored in fp16 next to the packed weight, as GPTQ kernels expect
    if (name.endsWith('.bias') && this.quantized.has(name.slice(0, -5)) && t.dtype !== 'F16') {
      this.writer.addTensor(name, Tensor.castFromF32('F16', t.toFloat32()));
      return;
    }
    this.writer.addTensor(name, t);
  }

  finish(): void {
    this.writer.close();
    const qc = this.quantizationConfig();
    writeModelConfig(this.ctx.dir, this.ctx.config, qc);
    writeJson(join(this.ctx.dir, 'quantization_config.json'), qc);
    copySideFiles(this.ctx.sourceDir, this.ctx.dir);
  }
}
