// Issue #13 item 15a: a --dataset that names a file which is not there was reported as a missing hub
// dataset only ("data/calib.txt" reads as a hub id "org/name"). Both readings are now reported.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '@autoround/core';
import { FakeHub } from '@autoround/hub/testing';
import { loadCalibration, type CalibTokenizer } from '../src/index.js';

// never reached: every case fails before anything is tokenized
const tokenizer: CalibTokenizer = { encode: () => [], bosTokenId: 1, eosTokenId: 2 };

describe('a missing local --dataset file', () => {
  const hub = new FakeHub([]);
  let cache: string;
  beforeAll(async () => {
    await hub.start();
    cache = mkdtempSync(join(tmpdir(), 'ar-calib-missing-'));
  });
  afterAll(async () => {
    await hub.stop();
    rmSync(cache, { recursive: true, force: true });
  });
  const load = (name: string, offline = false) =>
    loadCalibration(name, tokenizer, { nsamples: 2, seqlen: 8, log: memoryLogger(), hub: { env: { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache }, retries: 0, progress: false, offline } }).then(
      () => null,
      (e: unknown) => e as Error & { code?: string },
    );

  it('"data/missing.txt" (a hub id too): no such file, and no such hub dataset (the hub said not found)', async () => {
    const e = await load('data/missing.txt');
    expect(e?.code).toBe('E_DATASET_NOT_FOUND');
    expect(e?.message).toMatch(new RegExp(`^--dataset data/missing\\.txt: no such file \\(${resolve('data/missing.txt').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\), and no hub dataset "data/missing\\.txt" either \\(.+\\)$`));
  });

  it('offline: the same two halves, the hub half saying why it could not look', async () => {
    const e = await load('data/missing.jsonl', true);
    expect(e?.message).toMatch(/^--dataset data\/missing\.jsonl: no such file \(.*\), and no hub dataset "data\/missing\.jsonl" either \(HF_HUB_OFFLINE is set/);
  });

  it('"./missing.txt" and "/abs/missing.parquet" (no hub id): no such file, and not a hub dataset id', async () => {
    const before = hub.requests.length;
    for (const name of ['./missing.txt', join(cache, 'missing.parquet')]) {
      const e = await load(name);
      expect(e?.message).toBe(`--dataset ${name}: no such file (${resolve(name)}), and not a hub dataset id "org/name" either`);
    }
    expect(hub.requests.length).toBe(before); // no hub request for a name that cannot be a hub id
  });
});
