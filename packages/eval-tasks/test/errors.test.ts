// Bad input: an unknown task lists the known ones, a file in the wrong schema names the missing field and where,
// a hub dataset neither cached nor reachable says how to get it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CausalLM, ModelSpec, TextTokenizer } from '@autoround/core';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTasks, runTasks } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'eval-tasks-err-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const model: CausalLM = { spec: { vocabSize: 4, config: {} } as unknown as ModelSpec, forward: (ids) => new Float32Array(ids.length * 4) };
const tokenizer: TextTokenizer = { encode: (t) => [...t].map(() => 1), decode: () => '', bosTokenId: 0, eosTokenId: undefined, vocabSize: 4 };

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { code: (e as { code: string }).code, message: (e as Error).message };
  }
  throw new Error('no error');
}

describe('bad --tasks input', () => {
  it('an unknown task lists the known ones', () => {
    expect(() => parseTasks('hellaswag,helaswag')).toThrow(/unknown task "helaswag"; known tasks: hellaswag, lambada_openai, piqa, winogrande, arc_easy, arc_challenge, boolq, openbookqa, mmlu/);
    expect(parseTasks('PIQA, mmlu:./m.jsonl')).toEqual([{ name: 'piqa' }, { name: 'mmlu', path: './m.jsonl' }]);
  });

  it('a local file without a field the task needs names the file, the line and the field', async () => {
    const f = join(dir, 'piqa.jsonl');
    writeFileSync(f, '{"goal":"g","sol1":"a","sol2":"b","label":0}\n{"goal":"g","sol1":"a","label":1}\n');
    const e = await codeOf(runTasks(model, tokenizer, [{ name: 'piqa', path: f }]));
    expect(e.code).toBe('E_DATASET_RECORD');
    expect(e.message).toContain(`${f} line 2: field "sol2" is missing (task piqa needs goal, sol1, sol2, label)`);
    const g = join(dir, 'arc.jsonl');
    writeFileSync(g, '{"question":"q","choices":{"text":["a"]},"answerKey":"A"}\n');
    const e2 = await codeOf(runTasks(model, tokenizer, [{ name: 'arc_easy', path: g }]));
    expect(e2.message).toContain(`${g} line 1: field "label" is missing`);
    const e3 = await codeOf(runTasks(model, tokenizer, [{ name: 'piqa', path: join(dir, 'x.csv') }]));
    expect(e3.code).toBe('E_NOT_FOUND');
  });

  it('a hub dataset offline and not cached says how to get it', async () => {
    const e = await codeOf(runTasks(model, tokenizer, [{ name: 'hellaswag' }], { hub: { offline: true, cacheDir: join(dir, 'cache') } }));
    expect(e.code).toBe('E_DATASET_UNAVAILABLE');
    expect(e.message).toMatch(/Rowan\/hellaswag.*not in the cache.*HF_HUB_OFFLINE unset.*--tasks hellaswag:PATH \(\.jsonl\/\.parquet with fields activity_label, ctx_a, ctx_b, endings, label\)/);
  });
});
