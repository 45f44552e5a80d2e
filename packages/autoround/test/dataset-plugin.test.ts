import { describe, expect, it } from 'vitest';
import { definePlugin, memoryLogger, type QuantizeOptions } from '@autoround/core';
import { AutoRound } from '../src/index.js';
import { HAS_SHARED, STORIES, needsShared } from '@autoround/testing';

// a third-party dataset plugin: one source that reads the name "tiny-words"
const TEXT = 'Once upon a time there was a little dog who liked to run in the park with his friends every day. ';
let loads = 0;
const tinyDatasets = definePlugin({
  name: 'autoround-plugin-tiny-words',
  datasets: [
    {
      name: 'tiny-words',
      matches: (name) => name === 'tiny-words',
      async load() {
        loads++;
        return Array.from({ length: 8 }, (_, i) => `${i} ${TEXT.repeat(6)}`);
      },
    },
  ],
});

describe.skipIf(!HAS_SHARED)(needsShared('dataset plugins'), () => {
  it('a --dataset a third-party plugin matches is read through that plugin', async () => {
    const ar = new AutoRound(STORIES, { dataset: 'tiny-words', discoverPlugins: false, plugins: [tinyDatasets], log: memoryLogger() });
    const model = await ar.load();
    const qo = { nsamples: 4, seqlen: 32, seed: 42 } as QuantizeOptions;
    const samples = await ar.calibrationSamples(model, qo);
    expect(loads).toBe(1);
    expect(samples).toHaveLength(4);
    expect(samples.every((s) => s.length === 32)).toBe(true);
    model.checkpoint.close();
  });

  it('without the plugin the name is no dataset', async () => {
    const ar = new AutoRound(STORIES, { dataset: 'tiny-words', discoverPlugins: false, log: memoryLogger() });
    const model = await ar.load();
    await expect(ar.calibrationSamples(model, { nsamples: 4, seqlen: 32, seed: 42 } as QuantizeOptions)).rejects.toThrow(/tiny-words/);
    model.checkpoint.close();
  });
});
