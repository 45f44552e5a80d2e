// Each task's prompt and scoring against log-likelihoods computed by hand on a tiny model: a character-level
// tokenizer and a "model" whose next-token logits depend on the current token only (a fixed random table), so
// ll(context, continuation) = Σ log softmax(W[previous char])[char] over the continuation's characters, written
// out here from the literal prompt strings the harness builds (docs/eval/tasks.md).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CausalDecoder, CausalLM, ModelSpec, TaskMetric, TextTokenizer } from '@autoround/core';
import { xorshiftRandom } from '@autoround/testing';
import { describe, expect, it } from 'vitest';
import { bootstrapStderr, perplexityOf, runTasks } from '../src/index.js';

const FIXTURES = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures');
const V = 101;
const BOS = 0;
const tok = (c: string) => (c.codePointAt(0)! % (V - 1)) + 1;
const rnd = xorshiftRandom(7);
const W = Array.from({ length: V }, () => Float32Array.from({ length: V }, () => 4 * rnd() - 2));

const tokenizer: TextTokenizer = {
  encode: (t, o) => [...(o?.addSpecialTokens ? [BOS] : []), ...[...t].map(tok)],
  decode: () => '',
  bosTokenId: BOS,
  eosTokenId: undefined,
  vocabSize: V,
};
const spec = { vocabSize: V, config: { max_position_embeddings: 4096 } } as unknown as ModelSpec;
const logitsOf = (ids: Int32Array) => {
  const out = new Float32Array(ids.length * V);
  ids.forEach((id, t) => out.set(W[id]!, t * V));
  return out;
};
/** The table as a CausalLM; `decoding` adds a rewinding decoder (the prefix-sharing path). */
function fakeModel(decoding: boolean): CausalLM {
  const forward = (ids: Int32Array) => logitsOf(ids);
  if (!decoding) return { spec, forward };
  return {
    spec,
    forward,
    kvCacheBytes: () => 0,
    decoder: (): CausalDecoder & { prefill(t: Int32Array): Float32Array } => {
      let position = 0;
      return {
        batch: 1,
        get position() {
          return position;
        },
        stepBatch: (t: Int32Array) => ((position += 1), logitsOf(t)),
        prefill: (t: Int32Array) => ((position += t.length), logitsOf(t)),
        rewind: (p: number) => {
          position = p;
        },
      };
    },
  } as CausalLM;
}

function logSoftmax(row: Float32Array, i: number): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - max);
  return row[i]! - max - Math.log(s);
}
/** Hand-computed ll of a continuation after a context (character tokens; no BOS unless the context is empty). */
function ll(context: string, continuation: string): number {
  let prev = context.length ? tok([...context].pop()!) : BOS;
  let sum = 0;
  for (const c of continuation) {
    sum += logSoftmax(W[prev]!, tok(c));
    prev = tok(c);
  }
  return sum;
}
const argmax = (xs: number[]) => xs.reduce((b, x, i) => (x > xs[b]! ? i : b), 0);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** acc and acc_norm of multiple-choice documents: [context, choices, gold] as literal strings; lls per document. */
function mc(docs: [string, string[], number][]): { acc: number; acc_norm: number; lls: number[][] } {
  const lls = docs.map(([c, ch]) => ch.map((x) => ll(c, ` ${x}`)));
  const acc = docs.map(([c, ch, g]) => (argmax(ch.map((x) => ll(c, ` ${x}`))) === g ? 1 : 0));
  const norm = docs.map(([c, ch, g]) => (argmax(ch.map((x) => ll(c, ` ${x}`) / [...x].length)) === g ? 1 : 0));
  return { acc: mean(acc), acc_norm: mean(norm), lls };
}

/** The task's metrics by "task/metric", and each document's per-choice log-likelihoods under "lls". */
async function run(task: string, decoding = true, numFewshot = 0): Promise<Record<string, TaskMetric> & { lls: number[][] }> {
  const lls: number[][] = [];
  const r = await runTasks(fakeModel(decoding), tokenizer, [{ name: task, path: join(FIXTURES, `${task}.jsonl`) }], { numFewshot, onScores: (_t, i, s) => (lls[i] = [...s]) });
  return Object.assign(Object.fromEntries(r.metrics.map((m) => [`${m.task}/${m.metric}`, m])), { lls });
}

function expectLls(got: number[][], want: number[][]): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => g.forEach((x, j) => expect(x, `document ${i} choice ${j}`).toBeCloseTo(want[i]![j]!, 9)));
}

describe('task prompts and scoring against hand-computed log-likelihoods', () => {
  it('hellaswag: "label: ctx_a Ctx_b" cleaned up, " ending", acc and acc_norm by characters', async () => {
    const want = mc([
      ['Roof shingle removal: A man is sitting on a roof. He', ['is using wrap to wrap a pair of skis.', 'is ripping level tiles off.', "is holding a rubik's cube.", 'starts pulling up roofing on a roof.'], 3],
      // " [title]" → ". ", "[header]" removed (after the strip: the leading space stays), "  " → " " once per pair
      ['Baking cookies: A woman puts dough on a tray.. She Puts the tray in the oven', ['and waits for the cookies to bake.', 'and the dog runs  away.', ' and eats the tray.', 'then swims across a lake.'], 0],
      ['Walking the dog: A boy holds a leash. The dog', ['pulls him down the street.', 'reads a book about trees.', 'paints the fence green.', 'flies over the house.'], 0],
      ['Washing hands: A girl turns on the tap. She', ['sings to the moon.', 'rubs soap on her hands.', 'drives a car to work.', 'climbs a tall tree.'], 1],
    ]);
    for (const decoding of [true, false]) {
      const m = await run('hellaswag', decoding);
      expectLls(m.lls, want.lls);
      expect(m['hellaswag/acc']!.value).toBeCloseTo(want.acc, 12);
      expect(m['hellaswag/acc_norm']!.value).toBeCloseTo(want.acc_norm, 12);
      expect(m['hellaswag/acc']!.n).toBe(4);
    }
  });

  it('lambada_openai: all words but the last, " last" scored; perplexity and greedy accuracy', async () => {
    const texts = ['the cat sat on the mat and the dog sat on the mat', 'once upon a time there was a little girl who liked to play in the park', 'he opened the door and walked into the room', 'she said hello to her friend'];
    const pairs = texts.map((t) => [t.slice(0, t.lastIndexOf(' ')), t.slice(t.lastIndexOf(' '))] as const);
    const greedy = pairs.map(([c, w]) => {
      let prev = tok(c.at(-1)!);
      return [...w].every((ch) => {
        const ok = argmax([...W[prev]!]) === tok(ch);
        prev = tok(ch);
        return ok;
      });
    });
    const m = await run('lambada_openai');
    expectLls(m.lls, pairs.map(([c, w]) => [ll(c, w)]));
    expect(m['lambada_openai/perplexity']!.value).toBeCloseTo(Math.exp(-mean(pairs.map(([c, w]) => ll(c, w)))), 9);
    expect(m['lambada_openai/acc']!.value).toBe(mean(greedy.map((g) => (g ? 1 : 0))));
  });

  it('piqa, arc, boolq, openbookqa: their "Question: …\\nAnswer:" (or passage) contexts', async () => {
    const piqa = mc([
      ['Question: How do I boil an egg?\nAnswer:', ['Put the egg in boiling water for ten minutes.', 'Put the egg in the freezer for ten minutes.'], 0],
      ['Question: To dry wet shoes,\nAnswer:', ['fill them with ice.', 'stuff them with newspaper.'], 1],
      ['Question: How can I keep bread fresh?\nAnswer:', ['Store it in a sealed bag.', 'Leave it in the rain.'], 0],
    ]);
    const arcE = mc([
      ['Question: Which of these is a source of light?\nAnswer:', ['the sun', 'a rock', 'a shoe', 'a spoon'], 0],
      ['Question: What do plants need to make food?\nAnswer:', ['sunlight', 'sand', 'plastic'], 0],
      ['Question: Which animal lives in water?\nAnswer:', ['a cow', 'a fish', 'a horse', 'a goat'], 1],
    ]);
    const boolq = mc([
      ['The Sun is the star at the center of the Solar System.\nQuestion: is the sun a star?\nAnswer:', ['no', 'yes'], 1],
      ['Most fish live in water and swim with fins.\nQuestion: can fish fly?\nAnswer:', ['no', 'yes'], 0],
      ['Ice is frozen water and it is cold.\nQuestion: is ice cold?\nAnswer:', ['no', 'yes'], 1],
    ]);
    const obqa = mc([
      ['The sun is responsible for', ['puppies learning new tricks', 'children growing up', 'flowers wilting in a vase', 'plants sprouting, blooming and wilting'], 3],
      ['When water freezes it becomes', ['steam', 'ice', 'sand', 'air'], 1],
    ]);
    const runs = await Promise.all(['piqa', 'arc_easy', 'boolq', 'openbookqa'].map((t) => run(t)));
    runs.forEach((r, i) => expectLls(r.lls, [piqa, arcE, boolq, obqa][i]!.lls));
    const m = Object.assign({}, ...runs) as Record<string, TaskMetric>;
    expect([m['piqa/acc']!.value, m['piqa/acc_norm']!.value]).toEqual([piqa.acc, piqa.acc_norm]);
    expect([m['arc_easy/acc']!.value, m['arc_easy/acc_norm']!.value]).toEqual([arcE.acc, arcE.acc_norm]);
    expect(m['boolq/acc']!.value).toBe(boolq.acc);
    expect(m['boolq/acc_norm']).toBeUndefined();
    expect([m['openbookqa/acc']!.value, m['openbookqa/acc_norm']!.value]).toEqual([obqa.acc, obqa.acc_norm]);
  });

  it('winogrande: partial scoring, each option completes the sentence and the rest after the blank is scored', async () => {
    const docs: [string[], string, number][] = [
      [["The trophy doesn't fit into the suitcase because the trophy", "The trophy doesn't fit into the suitcase because the suitcase"], ' is too large.', 0],
      [['Sarah was a much better surgeon than Maria so Sarah', 'Sarah was a much better surgeon than Maria so Maria'], ' always got the easier cases.', 1],
      [['The cat chased the mouse because the cat', 'The cat chased the mouse because the mouse'], ' was hungry.', 0],
    ];
    const want = mean(docs.map(([ctxs, rest, g]) => (argmax(ctxs.map((c) => ll(c, rest))) === g ? 1 : 0)));
    const m = await run('winogrande');
    expectLls(m.lls, docs.map(([ctxs, rest]) => ctxs.map((c) => ll(c, rest))));
    expect(m['winogrande/acc']!.value).toBe(want);
  });

  it('mmlu: subject line, lettered choices, " A"…" D"; categories; 1-shot takes the first other example of the subject', async () => {
    const q = (s: string, question: string, ch: string[]) => `The following are multiple choice questions (with answers) about ${s}.\n\n${question}\nA. ${ch[0]}\nB. ${ch[1]}\nC. ${ch[2]}\nD. ${ch[3]}\nAnswer:`;
    const L = ['A', 'B', 'C', 'D'];
    const docs: [string, string, string[], number][] = [
      ['abstract algebra', 'Find the degree of the field extension Q(sqrt(2)) over Q.', ['0', '2', '1', '3'], 1],
      ['abstract algebra', 'What is 2 + 2?', ['3', '4', '5', '6'], 1],
      ['philosophy', 'Who wrote the Republic?', ['Plato', 'Kant', 'Hume', 'Locke'], 0],
      ['high school geography', 'What is the capital of France?', ['Berlin', 'Madrid', 'Paris', 'Rome'], 2],
      ['anatomy', 'Which organ pumps blood?', ['lung', 'heart', 'liver', 'skin'], 1],
      ['marketing', "A firm's revenue minus costs is its", ['profit', 'loss', 'tax', 'wage'], 0],
    ];
    const hits = docs.map(([s, question, ch, g]) => (argmax(L.map((l) => ll(q(s, question, ch), ` ${l}`))) === g ? 1 : 0));
    const m = await run('mmlu');
    expectLls(m.lls, docs.map(([s, question, ch]) => L.map((l) => ll(q(s, question, ch), ` ${l}`))));
    expect(m['mmlu/acc']!.value).toBe(mean(hits));
    expect(m['mmlu_stem/acc']!.value).toBe(mean([hits[0]!, hits[1]!, hits[4]!]));
    expect(m['mmlu_humanities/acc']!.value).toBe(hits[2]);
    expect(m['mmlu_social_sciences/acc']!.value).toBe(hits[3]);
    expect(m['mmlu_other/acc']!.value).toBe(hits[5]);
    expect(m['mmlu_stem/acc']!.n).toBe(3);
    // 1-shot: each abstract-algebra question gets the other one, answered, before it
    const head = 'The following are multiple choice questions (with answers) about abstract algebra.\n\n';
    const body = (i: number) => q(docs[i]![0], docs[i]![1], docs[i]![2]).slice(head.length);
    const oneShotLls = [0, 1].map((i) => {
      const other = 1 - i;
      const ctx = head + `${body(other)} ${L[docs[other]![3]]}\n\n` + body(i);
      return L.map((l) => ll(ctx, ` ${l}`));
    });
    const oneShot = oneShotLls.map((x, i) => (argmax(x) === docs[i]![3] ? 1 : 0));
    const m1 = await run('mmlu', true, 1);
    expectLls(m1.lls.slice(0, 2), oneShotLls);
    // subjects with one question have no other example: 1-shot equals 0-shot there
    expect(m1['mmlu_stem/acc']!.value).toBe(mean([oneShot[0]!, oneShot[1]!, hits[4]!]));
  });
});

describe("LAMBADA perplexity's stderr: the harness's bootstrap", () => {
  it('equals lm_eval.api.metrics.bootstrap_stderr(perplexity, xs, iters) as CPython 3.11 computes it', () => {
    // python3: random.Random(i).choices per chunk i of 1,000 (the harness's code, copied into a script)
    const xs = [-2.5, -0.75, -4.0, -1.25, -3.0];
    expect(bootstrapStderr(perplexityOf, xs, 2000)).toBeCloseTo(6.48375494258137, 12);
    expect(bootstrapStderr(perplexityOf, xs)).toBeCloseTo(6.351636047323448, 11);
    expect(perplexityOf(xs)).toBeCloseTo(Math.exp(2.3), 14);
  });
});

describe('--log_samples', () => {
  it("every document's scores, gold and 0/1 metrics; their means are the reported metrics", async () => {
    const names = ['hellaswag', 'lambada_openai', 'winogrande', 'mmlu'];
    const lls: Record<string, number[][]> = {};
    const r = await runTasks(fakeModel(true), tokenizer, names.map((name) => ({ name, path: join(FIXTURES, `${name}.jsonl`) })), {
      samples: true,
      onScores: (t, i, s) => ((lls[t] ??= [])[i] = [...s]),
    });
    for (const name of names) {
      const samples = r.samples!.filter((s) => s.task === name);
      expect(samples.map((s) => s.doc_id)).toEqual([...samples.keys()]);
      samples.forEach((s, i) => expect(s.scores).toEqual(lls[name]![i]));
      for (const m of r.metrics.filter((x) => x.task === name && x.metric !== 'perplexity')) {
        expect(mean(samples.map((s) => s.metrics[m.metric]!)), `${name}/${m.metric}`).toBeCloseTo(m.value, 12);
      }
      // acc is the argmax of the log-likelihoods (LAMBADA: its greedy match, which the scores alone do not give)
      if (name !== 'lambada_openai') samples.forEach((s) => expect(s.metrics.acc).toBe(argmax([...s.scores]) === s.target ? 1 : 0));
    }
    expect(r.samples!.find((s) => s.task === 'hellaswag')!.metrics).toHaveProperty('acc_norm');
  });
});

