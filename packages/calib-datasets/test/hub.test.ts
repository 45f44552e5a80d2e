import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { memoryLogger } from '@autoround/core';
import { FakeHub } from '@autoround/hub/testing';
import { loadCalibration, type CalibrationOptions } from '../src/index.js';
import { SKIP_REASON, asArrays, calibTokenizer, expectedSamples, haveStories, words } from './helpers.js';

const SEQLEN = 32;
const pq = (cols: Record<string, string[]>) =>
  new Uint8Array(parquetWriteBuffer({ columnData: Object.entries(cols).map(([name, data]) => ({ name, data, type: 'STRING' as const })) }));

// 12 pile-like records over two train files: numpy default_rng(42).permutation(12) = [0, 7, 6, 9, 11, 3, 5, 2, 4, 10, 1, 8]
const PILE = Array.from({ length: 12 }, (_, i) => words(i % 4 === 3 ? 4 : 30 + 3 * i, 100 + i));
const NP42_12 = [0, 7, 6, 9, 11, 3, 5, 2, 4, 10, 1, 8];
// mbpp: text + code over train/validation/test (3 + 3 + 3), python random.Random(42).shuffle of 9 -> [3, 6, 7, 4, 8, 2, 5, 0, 1]
const MB = Array.from({ length: 9 }, (_, i) => ({ text: words(12 + i, 200 + i) + ' ', code: `def f${i}(x):\n    return x + ${i}\n` + words(8, 300 + i) }));
const PY42_9 = [3, 6, 7, 4, 8, 2, 5, 0, 1];

function makeHub(): FakeHub {
  return new FakeHub([
    {
      id: 'NeelNanda/pile-10k',
      type: 'dataset',
      files: {
        'README.md': 'pile',
        'data/train-00000-of-00002.parquet': pq({ text: PILE.slice(0, 5), meta: PILE.slice(0, 5).map(() => '{}') }),
        'data/train-00001-of-00002.parquet': pq({ text: PILE.slice(5), meta: PILE.slice(5).map(() => '{}') }),
      },
    },
    {
      id: 'google-research-datasets/mbpp',
      type: 'dataset',
      files: {
        'full/train-00000-of-00001.parquet': pq({ text: MB.slice(0, 3).map((r) => r.text), code: MB.slice(0, 3).map((r) => r.code) }),
        'full/validation-00000-of-00001.parquet': pq({ text: MB.slice(3, 6).map((r) => r.text), code: MB.slice(3, 6).map((r) => r.code) }),
        'full/test-00000-of-00001.parquet': pq({ text: MB.slice(6).map((r) => r.text), code: MB.slice(6).map((r) => r.code) }),
      },
    },
    {
      id: 'someone/chat-data',
      type: 'dataset',
      files: {
        'data/train_sft-00000.jsonl': PILE.slice(0, 4)
          .map((t) => JSON.stringify({ messages: [{ role: 'user', content: 'Tell me. ' }, { role: 'assistant', content: t }] }))
          .join('\n'),
      },
    },
    {
      id: 'someone/script-only',
      type: 'dataset',
      files: { 'script-only.py': '# loading script' },
      revisions: { 'refs/convert/parquet': { 'default/train/0000.parquet': pq({ body: PILE }) } },
    },
  ]);
}

describe.skipIf(!haveStories)(`hub calibration sources against a fake hub (${haveStories ? 'stories260K tokenizer' : SKIP_REASON})`, () => {
  let hub: FakeHub;
  let cache: string;
  let opts: CalibrationOptions;
  beforeAll(() => {});
  afterAll(() => {});
  beforeEach(async () => {
    hub = makeHub();
    await hub.start();
    cache = mkdtempSync(join(tmpdir(), 'ar-calib-hub-'));
    opts = { seqlen: SEQLEN, nsamples: 128, seed: 42, log: memoryLogger(), hub: { env: { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache }, retries: 0, progress: false } };
  });
  afterEach(async () => {
    await hub.stop();
    rmSync(cache, { recursive: true, force: true });
  });

  it('the default dataset (NeelNanda/pile-10k) comes from the hub, shuffled like datasets.shuffle(seed=42), then from the cache', async () => {
    const want = expectedSamples(NP42_12.map((i) => PILE[i]!), SEQLEN, 128);
    expect(want.length).toBe(9); // the 3 four-word records are too short
    const got = await loadCalibration(undefined, calibTokenizer(), opts);
    expect(asArrays(got)).toEqual(want);
    await hub.stop();
    const again = await loadCalibration('pile-10k', calibTokenizer(), opts);
    expect(asArrays(again)).toEqual(want);
    const offline = await loadCalibration('NeelNanda/pile-10k', calibTokenizer(), { ...opts, hub: { ...opts.hub, offline: true } });
    expect(asArrays(offline)).toEqual(want);
  });

  it('without network and cache, says to pass a local file or use self', async () => {
    await hub.stop();
    const err = await loadCalibration(undefined, calibTokenizer(), opts).catch((e) => e);
    expect(err.code).toBe('E_DATASET_UNAVAILABLE');
    expect(err.message).toMatch(/the default calibration dataset NeelNanda\/pile-10k cannot be loaded: cannot reach .* not in the cache/);
    expect(err.message).toMatch(/--dataset \.\/calib\.jsonl .* or use --dataset self/);
    const off = await loadCalibration(undefined, calibTokenizer(), { ...opts, hub: { ...opts.hub, offline: true } }).catch((e) => e);
    expect(off.message).toMatch(/HF_HUB_OFFLINE is set.*--dataset self/);
  });

  it('mbpp: text + code over train+validation+test, random.Random(seed).shuffle; split= narrows', async () => {
    const got = await loadCalibration('mbpp', calibTokenizer(), opts);
    const texts = MB.map((r) => r.text + r.code);
    expect(asArrays(got)).toEqual(expectedSamples(PY42_9.map((i) => texts[i]!), SEQLEN, 128));
    const test = await loadCalibration('mbpp:split=test', calibTokenizer(), opts);
    // CPython: l = list(range(3)); random.Random(42).shuffle(l) -> [1, 0, 2]
    expect(asArrays(test)).toEqual(expectedSamples([1, 0, 2].map((i) => texts[6 + i]!), SEQLEN, 128));
  });

  it('any org/name dataset: JSON Lines conversations joined, or rendered with the chat template', async () => {
    // numpy default_rng(42).permutation(4) = [3, 2, 1, 0]
    const got = await loadCalibration('someone/chat-data:split=train_sft', calibTokenizer(), opts);
    expect(got.length).toBeGreaterThan(0);
    const joined = PILE.slice(0, 4).map((t) => 'Tell me. ' + t);
    expect(asArrays(got)).toEqual(expectedSamples([3, 2, 1, 0].map((i) => joined[i]!), SEQLEN, 128));
    const chat = await loadCalibration('someone/chat-data:split=train_sft:system_prompt=Be brief.', calibTokenizer({ applyChatTemplate: (m) => m.map((x) => `[${x.role}] ${x.content}`).join(' ') }), opts);
    const rendered = PILE.slice(0, 4).map((t) => `[system] Be brief. [user] Tell me.  [assistant] ${t}`);
    expect(asArrays(chat)).toEqual(expectedSamples([3, 2, 1, 0].map((i) => rendered[i]!), SEQLEN, 128));
  });

  it('a dataset with only a loading script is read from its refs/convert/parquet export (text_field)', async () => {
    const got = await loadCalibration('someone/script-only:text_field=body', calibTokenizer(), opts);
    expect(asArrays(got)).toEqual(expectedSamples(NP42_12.map((i) => PILE[i]!), SEQLEN, 128));
    const noField = await loadCalibration('someone/script-only', calibTokenizer(), opts);
    expect(noField.length).toBe(9); // its only string column is taken
  });

  it('reports a missing hub dataset or split clearly', async () => {
    await expect(loadCalibration('someone/nothing', calibTokenizer(), opts)).rejects.toThrow(/dataset repository "someone\/nothing" was not found/);
    await expect(loadCalibration('mbpp:split=dev', calibTokenizer(), opts)).rejects.toThrow(/no data files for split "dev"/);
    await expect(loadCalibration('ultrachat_200k:split=bogus', calibTokenizer(), opts)).rejects.toThrow(/split must be one of train_sft, test_sft, train_gen, test_gen/);
  });
});
