// The 'gguf' exporter: --format gguf:q4_k_m (and every other file type of FILE_TYPES).

import { join } from 'node:path';
import { AutoRoundError } from '@autoround/core-tensor';
import type { ExportContext, ExporterPlugin, ExportSession, QuantizedWeight, QuantScheme } from '@autoround/core';
import type { Tensor } from '@autoround/core-tensor';
import { fileTypeByName, fileTypeNames, type FileType } from './ftype.js';
import { GgufTensorSink, planGguf, type Imatrix } from './export.js';

/** The file type named by a format string ("gguf:q4_k_m" → Q4_K_M); null when none is given. */
export function fileTypeOfFormat(format: string): FileType | null {
  const i = format.indexOf(':');
  if (i < 0) return null;
  const name = format.slice(i + 1).trim();
  if (!name) return null;
  const t = fileTypeByName(name);
  if (!t) throw new AutoRoundError('E_BAD_FORMAT', `unknown GGUF type "${name}" in --format ${format} (known: ${fileTypeNames().map((n) => `gguf:${n}`).join(', ')})`, { subject: '--format' });
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

/** An ExportContext may carry an importance matrix (GGUF or HF tensor name → per-column weights). */
type GgufExportContext = ExportContext & { readonly imatrix?: Imatrix };

class GgufSession implements ExportSession {
  private readonly sink: GgufTensorSink;
  private readonly quantizedLayers = new Set<string>();

  constructor(private readonly ctx: GgufExportContext) {
    const fileType = fileTypeOfFormat(ctx.format)!;
    const ck = ctx.checkpoint;
    const plan = planGguf({
      config: ctx.config,
      modelDir: ctx.sourceDir,
      sourceTensors: ck.names.map((n) => ({ name: n, shape: ck.info(n).shape })),
      fileType,
      hasImatrix: !!ctx.imatrix,
      log: ctx.log,
    });
    const file = join(ctx.dir, `${plan.modelName}-${fileType.name}.gguf`);
    this.sink = new GgufTensorSink(plan, file, ctx.imatrix, ctx.log);
    ctx.log.info(`gguf: writing ${file} (${fileType.name}, ${plan.tensors.length} tensors)`);
  }

  /**
   * GGUF quantizes from the float weights itself (llama.cpp's reference searches), so an
   * algorithm's result only marks the layer: its float weight comes through writeTensor or, at
   * finish(), from the checkpoint.
   */
  writeQuantized(layerName: string, _q: QuantizedWeight): void {
    this.quantizedLayers.add(layerName);
  }

  writeTensor(name: string, t: Tensor): void {
    if (!this.sink.wants(name)) {
      this.ctx.log.debug(`gguf: ${name} is not written to GGUF`);
      return;
    }
    const f = t.toFloat32();
    this.sink.put(name, f.data, f.shape);
  }

  finish(): void {
    const ck = this.ctx.checkpoint;
    this.sink.finish((n) => {
      const r = ck.readFloat32(n);
      return { data: r.data, shape: r.shape };
    });
  }
}

export const ggufExporter: ExporterPlugin = {
  name: 'gguf',
  description: 'GGUF for llama.cpp (gguf:q4_k_m, q2_k_s … q6_k, q4_0 … q8_0, bf16, f16, f32), llama.cpp reference quantizers and tensor mixes',
  check(_scheme: QuantScheme, format: string): string | null {
    return checkFormat(format);
  },
  open(ctx: ExportContext): ExportSession {
    return new GgufSession(ctx as GgufExportContext);
  },
};
