import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, memoryLogger, silentLogger, writeDemoModel } from '@autoround/autoround';
import signround from '../src/index.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

const model = join(work.dir, 'm');
writeDemoModel(model, { hidden: 64, intermediate: 128, layers: 2, heads: 2, kvHeads: 1 });
const calib = join(work.dir, 'calib.txt');
writeFileSync(calib, 'A small calibration text about clocks and the sea. '.repeat(200));

/** Overwrites one float of a tensor in the demo checkpoint. */
function poison(dir: string, tensor: string, value: number): void {
  const f = join(dir, 'model.safetensors');
  const b = readFileSync(f);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString()) as Record<string, { data_offsets: [number, number] }>;
  b.writeFloatLE(value, 8 + n + h[tensor]!.data_offsets[0] + 4 * 7);
  writeFileSync(f, b);
}

describe('SignRound bad input', () => {
  it('stops with the layer name on NaN or inf in weights', async () => {
    const { cpSync } = await import('node:fs');
    for (const [v, iters] of [[NaN, 5], [Infinity, 0]] as const) {
      const d = join(work.dir, `bad-${iters}`);
      cpSync(model, d, { recursive: true });
      poison(d, 'model.layers.1.mlp.up_proj.weight', v);
      const ar = new AutoRound(d, { bits: 4, groupSize: 32, iters, disableOptRtn: true, dataset: `${calib}:concat`, nsamples: 4, seqlen: 32, log: silentLogger, discoverPlugins: false, plugins: [signround] });
      await expect(ar.quantizeAndSave(join(work.dir, `o-${iters}`), { format: 'fake' })).rejects.toThrow(/model\.layers\.1\.mlp\.up_proj\.weight holds a non-finite value/);
    }
  });

  it('stops with the block on non-finite activations', async () => {
    const { cpSync } = await import('node:fs');
    const d = join(work.dir, 'bad-act');
    cpSync(model, d, { recursive: true });
    poison(d, 'model.layers.0.post_attention_layernorm.weight', 3e38); // overflows the MLP
    poison(d, 'model.layers.0.mlp.down_proj.weight', 3e38);
    const ar = new AutoRound(d, { bits: 4, groupSize: 32, iters: 3, dataset: `${calib}:concat`, nsamples: 4, seqlen: 32, log: silentLogger, discoverPlugins: false, plugins: [signround], ignoreLayers: 'model.layers.0.mlp.down_proj' });
    await expect(ar.quantizeAndSave(join(work.dir, 'o-act'), { format: 'fake' })).rejects.toThrow(/non-finite/);
  });

  it('uses what there is, with a warning, when the text holds fewer samples than --nsamples', async () => {
    const log = memoryLogger();
    const ar = new AutoRound(model, { bits: 4, groupSize: 32, iters: 2, dataset: `${calib}:concat`, nsamples: 512, seqlen: 64, batchSize: 4, log, discoverPlugins: false, plugins: [signround] });
    await ar.quantizeAndSave(join(work.dir, 'o-few'), { format: 'fake' });
    expect(log.lines.some((l) => /fewer than --nsamples 512; using what there is/.test(l))).toBe(true);
  });
});
