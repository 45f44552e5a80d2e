// A Qwen2-VL-shaped checkpoint through the CLI (docs/vlm.md): SignRound calibrates the text tower on text, the
// auto_round folder keeps the vision tower, and `generate` reads it; --quant_nontext_module is refused.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '@autoround/core-tensor';
import { runCli } from './run-cli.js';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir, writeQwen2VlFixture } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe.skipIf(!HAS_SHARED)(needsShared('auto-round on a Qwen2-VL-shaped checkpoint'), () => {
  it('SignRound (text calibration) to auto_round; the vision tower byte for byte; generate from the output', async () => {
    const src = join(work.dir, 'vlm');
    const { visionTensors } = writeQwen2VlFixture(STORIES, src, { layout: 'text-config' });
    const calib = join(work.dir, 'calib.txt');
    writeFileSync(calib, readFileSync(TINYSTORIES, 'utf8').slice(0, 20_000));
    const out = join(work.dir, 'out');
    const q = await runCli(['--model', src, '--scheme', 'W4A16', '--group_size', '32', '--iters', '2', '--nsamples', '2', '--seqlen', '32', '--batch_size', '1', '--dataset', `${calib}:concat`, '--format', 'auto_round', '--output_dir', out, '--skip_sanity_check']);
    expect(q.code, q.err).toBe(0);
    const qc = (JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { quantization_config: { iters: number; block_name_to_quantize: string } }).quantization_config;
    expect(qc.iters).toBe(2);
    expect(qc.block_name_to_quantize).toBe('model.language_model.layers');
    const a = Checkpoint.open(src);
    const b = Checkpoint.open(out);
    try {
      for (const n of visionTensors) expect(Buffer.from(b.read(n).bytes()).equals(Buffer.from(a.read(n).bytes())), n).toBe(true);
    } finally {
      a.close();
      b.close();
    }
    const g = await runCli(['generate', '--model', out, '--prompt', 'Once upon a time', '--max_new_tokens', '8', '--output_ids']);
    expect(g.code, g.err).toBe(0);
    expect((JSON.parse(g.out.split('\n').find((l) => l.startsWith('{'))!) as { generated_ids: number[] }).generated_ids).toHaveLength(8);
  }, 300_000);

  it('--quant_nontext_module is an error naming the flag', async () => {
    const r = await runCli(['--model', STORIES, '--iters', '0', '--quant_nontext_module']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--quant_nontext_module is not supported: quantizing the vision tower is not implemented yet/);
  });
});
