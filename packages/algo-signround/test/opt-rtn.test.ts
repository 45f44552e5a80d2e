import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoRound, PerplexityBench, memoryLogger, silentLogger } from '@autoround/autoround';
import signround from '../src/index.js';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe.skipIf(!HAS_SHARED)(needsShared('optimized RTN on stories260K'), () => {
  // Read in beforeAll, not while vitest collects the suite: a skipped suite's body still runs (issue #13 item 16).
  const calib = join(work.dir, 'calib.txt');
  let evalText = '';
  beforeAll(() => {
    const text = readFileSync(TINYSTORIES, 'utf8');
    writeFileSync(calib, text.slice(0, 150_000));
    evalText = text.slice(-5000);
  });

  it('is chosen for --iters 0 with a sym scheme and beats plain RTN at 2 bits', async () => {
    const ppl: Record<string, number> = {};
    let bench: PerplexityBench | undefined;
    for (const disableOptRtn of [true, false]) {
      const log = memoryLogger();
      const ar = new AutoRound(STORIES, { bits: 2, groupSize: 32, sym: true, iters: 0, disableOptRtn, dataset: `${calib}:concat`, nsamples: 16, seqlen: 128, log, discoverPlugins: false, plugins: [signround] });
      const res = await ar.quantizeAndSave(join(work.dir, `o${disableOptRtn}`), { format: 'fake', keepQdq: true });
      expect(log.lines.some((l) => l.includes(disableOptRtn ? 'with rtn' : 'with opt-rtn'))).toBe(true);
      bench ??= new PerplexityBench(await ar.registry(), await ar.load(), await ar.backend(), evalText, { seqlen: 256 });
      ppl[disableOptRtn ? 'plain' : 'opt'] = bench.runQuantized(res.qdq).perplexity;
    }
    expect(ppl.opt!).toBeLessThan(ppl.plain!);
  });

  it('calibrates data-free with --dataset self', async () => {
    const log = memoryLogger();
    const ar = new AutoRound(STORIES, { bits: 4, groupSize: 32, iters: 0, dataset: 'self', nsamples: 4, seqlen: 64, log, discoverPlugins: false, plugins: [signround] });
    const res = await ar.quantizeAndSave(join(work.dir, 'self'), { format: 'fake' });
    expect(res.quantizedLayers).toBe(20);
    expect(log.lines.some((l) => /calibration: 4 samples of 64 tokens from self/.test(l))).toBe(true);
  });

  it('refuses a seqlen longer than the model allows', async () => {
    const ar = new AutoRound(STORIES, { bits: 4, groupSize: 32, iters: 0, dataset: calib, seqlen: 2048, log: silentLogger, discoverPlugins: false, plugins: [signround] });
    await expect(ar.quantizeAndSave(join(work.dir, 'long'), { format: 'fake' })).rejects.toThrow(/--seqlen 2048 is longer than the model allows \(max_position_embeddings 512/);
  });
});
