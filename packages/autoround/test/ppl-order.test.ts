import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, PerplexityBench, silentLogger } from '../src/index.js';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe.skipIf(!HAS_SHARED)(needsShared('RTN perplexity ordering on stories260K'), () => {
  it('fp32 < W4 < W3 < W2 (group 32), asym and sym', async () => {
    const text = readFileSync(TINYSTORIES, 'utf8').slice(-6000);
    const results: Record<string, number> = {};
    let bench: PerplexityBench | undefined;
    for (const sym of [false, true]) {
      for (const bits of [4, 3, 2]) {
        // plain W2 RTN of this 260K-parameter model is about 3× the source's perplexity on the sanity
        // probe's windows, at its limit; this test measures that degradation itself
        const ar = new AutoRound(STORIES, { bits, groupSize: 32, sym, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, skipSanityCheck: bits < 3 });
        const res = await ar.quantizeAndSave(join(work.dir, `w${bits}${sym}`), { format: 'fake', keepQdq: true });
        bench ??= new PerplexityBench(await ar.registry(), await ar.load(), await ar.backend(), text, { seqlen: 256 });
        results.fp32 ??= bench.run((await ar.load()).checkpoint).perplexity;
        results[`W${bits}G32 ${sym ? 'sym' : 'asym'}`] = bench.runQuantized(res.qdq).perplexity;
      }
    }
    for (const s of ['asym', 'sym']) {
      expect(results.fp32!).toBeLessThan(results[`W4G32 ${s}`]!);
      expect(results[`W4G32 ${s}`]!).toBeLessThan(results[`W3G32 ${s}`]!);
      expect(results[`W3G32 ${s}`]!).toBeLessThan(results[`W2G32 ${s}`]!);
    }
  });
});
