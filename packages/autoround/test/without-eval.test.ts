// The host depends on core only (docs/adr/0019-host-depends-on-core.md): evaluation is a plugin
// contribution (@autoround/eval's evaluator), the tokenizer an architecture plugin's.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '@autoround/core';
import rtnPlugin from '@autoround/algo-rtn';
import exportAutoRoundPlugin from '@autoround/export-autoround';
import kernelsCpuPlugin from '@autoround/kernels-cpu';
import modelsPlugin from '@autoround/models';
import evalPlugin from '@autoround/eval';
import { AutoRound, PerplexityBench, folderPerplexity, writeDemoModel } from '../src/index.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());
const model = join(work.dir, 'model');
writeDemoModel(model, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
const base = [modelsPlugin, rtnPlugin, exportAutoRoundPlugin, kernelsCpuPlugin];

describe('a host without @autoround/eval', () => {
  it('quantizes, skipping the sanity probe with one info line', async () => {
    const log = memoryLogger();
    const ar = new AutoRound(model, { scheme: 'W4A16', groupSize: 32, iters: 0, log, discoverPlugins: false, builtinPlugins: base });
    const r = await ar.quantizeAndSave(join(work.dir, 'out'), { format: 'auto_round' });
    expect(r.sanity).toBeUndefined();
    expect(log.lines.filter((l) => /sanity probe/.test(l))).toEqual([expect.stringMatching(/sanity probe skipped: .*@autoround\/eval, which is not installed/)]);
  });

  it('perplexity (auto-round eval, --eval_ppl) fails with E_NOT_INSTALLED naming @autoround/eval', async () => {
    const ar = new AutoRound(model, { iters: 0, log: memoryLogger(), discoverPlugins: false, builtinPlugins: base });
    const registry = await ar.registry();
    const backend = await ar.backend();
    expect(() => folderPerplexity(registry, model, backend, 'some text to score', { seqlen: 16 })).toThrow(expect.objectContaining({ code: 'E_NOT_INSTALLED', message: expect.stringMatching(/@autoround\/eval/) }));
  });

  it('with the eval plugin the same registry scores the model', async () => {
    const ar = new AutoRound(model, { iters: 0, log: memoryLogger(), discoverPlugins: false, builtinPlugins: [...base, evalPlugin] });
    const bench = new PerplexityBench(await ar.registry(), await ar.load(), await ar.backend(), 'one two three four five six seven eight', { seqlen: 8 });
    expect(Number.isFinite(bench.run().perplexity)).toBe(true);
  });
});
