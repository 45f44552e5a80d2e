// A task's documents from the hub dataset the harness reads (a stand-in hub on 127.0.0.1), then from the cache
// with HF_HUB_OFFLINE; Parquet in the hub's schema; few-shot examples from the train split.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CausalLM, ModelSpec, TextTokenizer } from '@autoround/core';
import { FakeHub } from '@autoround/hub/testing';
import { xorshiftRandom } from '@autoround/testing';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTasks } from '../src/index.js';

const V = 101;
const tok = (c: string) => (c.codePointAt(0)! % (V - 1)) + 1;
const rnd = xorshiftRandom(3);
const W = Array.from({ length: V }, () => Float32Array.from({ length: V }, () => 4 * rnd() - 2));
const tokenizer: TextTokenizer = { encode: (t, o) => [...(o?.addSpecialTokens ? [0] : []), ...[...t].map(tok)], decode: () => '', bosTokenId: 0, eosTokenId: undefined, vocabSize: V };
const model: CausalLM = {
  spec: { vocabSize: V, config: { max_position_embeddings: 4096 } } as unknown as ModelSpec,
  forward: (ids) => {
    const out = new Float32Array(ids.length * V);
    ids.forEach((id, t) => out.set(W[id]!, t * V));
    return out;
  },
};

const VAL = [
  { goal: 'How do I boil an egg?', sol1: 'Put it in boiling water.', sol2: 'Put it in the freezer.', label: 0 },
  { goal: 'To dry wet shoes,', sol1: 'fill them with ice.', sol2: 'stuff them with newspaper.', label: 1 },
];
const TRAIN = Array.from({ length: 8 }, (_, i) => ({ goal: `Goal ${i}?`, sol1: `first ${i}`, sol2: `second ${i}`, label: i % 2 }));
const parquet = (rows: typeof VAL) =>
  new Uint8Array(
    parquetWriteBuffer({
      columnData: [
        { name: 'goal', data: rows.map((r) => r.goal), type: 'STRING' as const },
        { name: 'sol1', data: rows.map((r) => r.sol1), type: 'STRING' as const },
        { name: 'sol2', data: rows.map((r) => r.sol2), type: 'STRING' as const },
        { name: 'label', data: rows.map((r) => r.label), type: 'INT32' as const },
      ],
    }),
  );

describe('hub task data', () => {
  const hub = new FakeHub([
    {
      id: 'baber/piqa',
      type: 'dataset',
      files: { 'README.md': 'piqa', 'data/validation-00000-of-00001.parquet': parquet(VAL), 'data/train-00000-of-00001.jsonl': TRAIN.map((d) => JSON.stringify(d)).join('\n') },
    },
  ]);
  const cache = mkdtempSync(join(tmpdir(), 'eval-tasks-hub-'));
  beforeAll(() => hub.start());
  afterAll(async () => {
    await hub.stop();
    rmSync(cache, { recursive: true, force: true });
  });
  const opts = () => ({ env: { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache }, retries: 0, progress: false });

  it('reads the split from the hub, then the same from the cache offline; few-shot from train', async () => {
    const scores = async (hubOptions: ReturnType<typeof opts> & { offline?: boolean }, numFewshot = 0) => {
      const s: number[][] = [];
      const r = await runTasks(model, tokenizer, [{ name: 'piqa' }], { hub: hubOptions, numFewshot, onScores: (_t, i, x) => (s[i] = [...x]) });
      return { s, r };
    };
    const online = await scores(opts());
    expect(online.r.metrics.map((m) => `${m.metric}:${m.n}`)).toEqual(['acc:2', 'acc_norm:2']);
    await hub.stop();
    const offline = await scores({ ...opts(), offline: true });
    expect(offline.s).toEqual(online.s);
    await hub.start();
    expect(hub.requests.some((r) => r.url.includes('train-00000-of-00001.jsonl'))).toBe(false);
    const shot = await scores(opts(), 2);
    // the examples come from the train split (this model's scores depend on the context's last character only)
    expect(hub.requests.some((r) => r.url.includes('train-00000-of-00001.jsonl'))).toBe(true);
    expect(shot.s).toEqual(online.s);
  });
});
