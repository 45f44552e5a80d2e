// llama-perplexity's --hellaswag protocol: its random engine and task draw, its text layout, its score
// (BOS + context + " " + ending; mean log-probability after the shared prefix) and its printed line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CausalLM, ModelSpec, TextTokenizer } from '@autoround/core';
import { xorshiftRandom } from '@autoround/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { llamaCppLine, Mt19937, parseLlamaCppHellaswag, runTasks, selectLlamaCppTasks, uniformBelow } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'eval-tasks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('std::mt19937 and libstdc++ uniform_int_distribution', () => {
  it('mt19937 default-seeded (5489) gives 4123659995 as its 10000th value (the C++ standard\'s check)', () => {
    const r = new Mt19937(5489);
    let v = 0;
    for (let i = 0; i < 10000; i++) v = r.next();
    expect(v).toBe(4123659995);
    expect(new Mt19937(1).next()).toBe(1791095845);
  });

  it("Lemire's method: the high word of draw·range, redrawing while the low word is under (2³²−range) mod range", () => {
    const seq = (xs: number[]) => ({ next: () => xs.shift()! });
    // range 3: threshold (2³² − 3) mod 3 = 1; a draw of 0 gives low 0 < 1 and is redrawn
    expect(uniformBelow(seq([0, 0xffffffff]), 3)).toBe(2);
    expect(uniformBelow(seq([0x80000000]), 3)).toBe(1);
    // the first of llama-perplexity's draws over the full file: mt19937(1)'s first value scaled to 10042 tasks
    expect(selectLlamaCppTasks([...Array(10042).keys()], 1)).toEqual([Number((1791095845n * 10042n) >> 32n)]);
  });

  it('draws without replacement when fewer tasks than the file holds are asked for; all, in order, otherwise', () => {
    const all = [...Array(50).keys()];
    const picked = selectLlamaCppTasks(all, 40);
    expect(new Set(picked).size).toBe(40);
    expect(selectLlamaCppTasks(all, 50)).toEqual(all);
    expect(selectLlamaCppTasks(all, undefined)).toEqual(all);
  });
});

describe('the text layout and the printed line', () => {
  it('6 lines per task; a bad label names the line', () => {
    const t = parseLlamaCppHellaswag('ctx one\n2\na\nb\nc\nd\nctx two\n0\ne\nf\ng\nh\n', 'x.txt');
    expect(t).toEqual([
      { context: 'ctx one', gold: 2, endings: ['a', 'b', 'c', 'd'] },
      { context: 'ctx two', gold: 0, endings: ['e', 'f', 'g', 'h'] },
    ]);
    expect(() => parseLlamaCppHellaswag('ctx\nfour\na\nb\nc\nd\n', 'x.txt')).toThrow(/x\.txt line 2: the label of task 1 should be 0, 1, 2 or 3/);
  });

  it("llama-perplexity's running line: task, accuracy % to 8 places, Wilson 95% interval to 4", () => {
    expect(llamaCppLine(100, 27)).toBe('100\t27.00000000%\t[19.2696%, 36.4321%]');
    // one right out of one: Wilson's lower bound is 1 / (1 + z²) = 1 / 4.84146 = 0.206549
    expect(llamaCppLine(1, 1)).toBe('1\t100.00000000%\t[20.6549%, 100.0000%]');
  });
});

describe('the score, by hand on a tiny model', () => {
  const V = 101;
  const tok = (c: string) => (c.codePointAt(0)! % (V - 1)) + 1;
  const rnd = xorshiftRandom(11);
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
  const logp = (prev: number, next: number) => {
    const row = W[prev]!;
    const max = Math.max(...row);
    return row[next]! - max - Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
  };

  it('mean log-probability of the tokens after the prefix the four sequences share; the highest wins', async () => {
    const tasks = [
      { context: 'A man sits. he', endings: ['runs away.', 'reads.', 'rides a bike.', 'rests.'], gold: 2 },
      { context: 'The dog barks. it', endings: ['wags.', 'eats a bone.', 'sleeps now.', 'sits.'], gold: 1 },
    ];
    const file = join(dir, 'hs.txt');
    writeFileSync(file, tasks.map((t) => [t.context, String(t.gold), ...t.endings].join('\n')).join('\n') + '\n');
    const want = tasks.map((t) => {
      const seqs = t.endings.map((e) => [0, ...[...`${t.context} ${e}`].map(tok)]);
      let cp = 0;
      while (seqs.every((s) => s[cp] === seqs[0]![cp])) cp++;
      return seqs.map((s) => {
        let sum = 0;
        for (let i = cp; i < s.length; i++) sum += logp(s[i - 1]!, s[i]!);
        return sum / (s.length - cp);
      });
    });
    const got: number[][] = [];
    const r = await runTasks(model, tokenizer, [{ name: 'hellaswag', path: file }], { protocol: 'llama.cpp', onScores: (_t, i, s) => (got[i] = [...s]) });
    got.forEach((g, i) => g.forEach((x, j) => expect(x).toBeCloseTo(want[i]![j]!, 9)));
    const hits = want.map((w, i) => (w.indexOf(Math.max(...w)) === tasks[i]!.gold ? 1 : 0));
    expect(r.metrics).toHaveLength(1);
    expect(r.metrics[0]!.value).toBe((hits[0]! + hits[1]!) / 2);
    expect(r.log![0]).toBe('task\tacc_norm\t95% confidence interval');
    expect(r.log![2]).toBe(llamaCppLine(2, hits[0]! + hits[1]!));
  });

  it('--log_samples: each drawn task names its line in the file (the draw of --limit) with its four means and its hit', async () => {
    const contexts = ['A cat naps. it', 'A bird sings. it', 'The sun sets. it', 'A fish swims. it', 'The car stops. it', 'A kid laughs. it'];
    const tasks = contexts.map((context, i) => ({ context, endings: ['purrs.', 'flies off.', 'glows red.', 'dives.'] as const, gold: i % 4 }));
    const file = join(dir, 'hs6.txt');
    writeFileSync(file, tasks.map((t) => [t.context, String(t.gold), ...t.endings].join('\n')).join('\n') + '\n');
    const got: number[][] = [];
    const r = await runTasks(model, tokenizer, [{ name: 'hellaswag', path: file }], { protocol: 'llama.cpp', limit: 4, samples: true, onScores: (_t, i, s) => (got[i] = [...s]) });
    const order = selectLlamaCppTasks([...tasks.keys()], 4);
    expect(r.samples!.map((s) => s.doc_id)).toEqual(order);
    r.samples!.forEach((s, i) => {
      expect(s.target).toBe(tasks[order[i]!]!.gold);
      expect(s.scores).toEqual(got[i]);
      expect(s.metrics.acc_norm).toBe(got[i]!.indexOf(Math.max(...got[i]!)) === s.target ? 1 : 0);
    });
    expect(r.samples!.reduce((a, s) => a + s.metrics.acc_norm!, 0) / 4).toBe(r.metrics[0]!.value);
    // without the option the result carries none
    expect((await runTasks(model, tokenizer, [{ name: 'hellaswag', path: file }], { protocol: 'llama.cpp', limit: 4 })).samples).toBeUndefined();
  });
});
