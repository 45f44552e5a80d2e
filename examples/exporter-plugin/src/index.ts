import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { definePlugin, type ExporterPlugin, type QuantizedWeight } from '@autoround/core';

interface LayerReport {
  layer: string;
  bits: number;
  groupSize: number;
  sym: boolean;
  /** mean squared error of the QDQ weight against the original */
  mse: number;
  /** relative error ‖W − Ŵ‖ / ‖W‖ */
  relError: number;
}

/**
 * A third-party exporter: it receives every quantized layer like the built-in ones do and
 * writes `report.json` — which layers lost the most, for choosing per-layer schemes.
 */
export const reportExporter: ExporterPlugin = {
  name: 'report',
  description: 'per-layer quantization error report (example third-party plugin)',
  check: () => null,
  open(ctx) {
    const layers: LayerReport[] = [];
    return {
      writeQuantized(layer: string, q: QuantizedWeight) {
        const w = ctx.checkpoint.readFloat32(`${layer}.weight`).data;
        let se = 0;
        let norm = 0;
        for (let i = 0; i < w.length; i++) {
          const d = w[i]! - q.qdq[i]!;
          se += d * d;
          norm += w[i]! * w[i]!;
        }
        layers.push({ layer, bits: q.scheme.bits, groupSize: q.groupSize, sym: q.scheme.sym, mse: se / w.length, relError: Math.sqrt(se / Math.max(norm, 1e-30)) });
      },
      writeTensor() {
        /* the report ignores tensors kept as they are */
      },
      finish() {
        layers.sort((a, b) => b.relError - a.relError);
        writeFileSync(join(ctx.dir, 'report.json'), JSON.stringify({ model: ctx.sourceDir, scheme: ctx.scheme, layers }, null, 2) + '\n');
      },
    };
  },
};

// apiVersion: the plugin contract this was written for (definePlugin fills it when left out); a host of another
// major version refuses the plugin with a warning instead of failing somewhere inside a run
export default definePlugin({ name: 'autoround-plugin-report', apiVersion: 1, exporters: [reportExporter] });
