// `auto-round eval --tasks` and `--tasks` after quantizing (docs/eval/tasks.md): the table, the JSON, the
// llama.cpp protocol's running lines, bad input; and on a real LLaMA (stories260K) the packed scorer (several
// documents per forward, --eval_bs) and the KV-cache one (rewound per choice) against whole-sequence forwards.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoRound, createRegistry, folderTasks, openModel, silentLogger, tokenizerOf, type TaskRunOptions } from '@autoround/autoround';
import { commonPrefix, llamaCppLine, parseLlamaCppHellaswag, runTasks, selectLlamaCppTasks } from '@autoround/eval-tasks';
import { HAS_SHARED, SHARED, STORIES, llamaCppMeanLogProbs, loadNodeLlamaCpp, needsShared, tempDir } from '@autoround/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const work = tempDir();
afterAll(() => work.cleanup());

const piqa = join(work.dir, 'piqa.jsonl');
const hsTxt = join(work.dir, 'hs.txt');
writeFileSync(
  piqa,
  [
    { goal: 'How do I open a door?', sol1: 'Turn the handle and push.', sol2: 'Sing to the door.', label: 0 },
    { goal: 'To make tea,', sol1: 'put the leaves in cold sand.', sol2: 'pour hot water over the leaves.', label: 1 },
    { goal: 'How to dry a towel?', sol1: 'Hang it in the sun.', sol2: 'Put it in a bucket of water.', label: 0 },
  ]
    .map((d) => JSON.stringify(d))
    .join('\n'),
);
writeFileSync(
  hsTxt,
  [
    'Lily went to the park. she',
    '1',
    'ate the moon.',
    'played on the swings with her friend.',
    'drove a truck.',
    'read the sky.',
    'Tom had a red ball. he',
    '0',
    'threw it to his dog.',
    'cooked it in the oven.',
    'wrote a letter to it.',
    'flew to the sun.',
  ].join('\n') + '\n',
);

/** The JSON line an eval prints. */
function json(out: string): { results: { task: string; metric: string; value: number; stderr: number | null; n: number }[]; documents: number; tasks_per_second: number; protocol: string } {
  return JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as never;
}

describe('bad --tasks input (no model read)', () => {
  it('an unknown task exits 1 listing the known ones; --limit without --tasks is refused', async () => {
    const r = await runCli(['eval', '--model', '/nonexistent', '--tasks', 'hellaswag,nope']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: --tasks: unknown task "nope"; known tasks: hellaswag, lambada_openai, piqa, winogrande, arc_easy, arc_challenge, boolq, openbookqa, mmlu$/m);
    const l = await runCli(['eval', '--model', '/nonexistent', '--eval_ppl', 'x.txt', '--limit', '3']);
    expect(l.code).toBe(1);
    expect(l.err).toContain('--limit goes with --tasks');
    const p = await runCli(['eval', '--model', '/nonexistent', '--tasks', 'piqa', '--eval_protocol', 'vllm']);
    expect(p.err).toContain('--eval_protocol must be harness or llama.cpp');
    const s = await runCli(['eval', '--model', '/nonexistent', '--tasks', 'piqa', '--log_samples']);
    expect(s.code).toBe(1);
    expect(s.err).toContain('--log_samples writes beside --tasks_output FILE.json: give --tasks_output too');
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('eval --tasks on stories260K'), () => {
  it('eval prints the table and the JSON line and writes --tasks_output', async () => {
    const outFile = join(work.dir, 'res.json');
    const r = await runCli(['eval', '--model', STORIES, '--tasks', `piqa:${piqa},hellaswag:${hsTxt}`, '--tasks_output', outFile, '--log_samples']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/task\s+metric\s+value\s+stderr/);
    expect(r.out).toMatch(/piqa\s+acc_norm\s+\d\.\d{4}\s+\d\.\d{4}/);
    const j = json(r.out);
    expect(j.protocol).toBe('harness');
    expect(j.results.map((m) => `${m.task}/${m.metric}/${m.n}`)).toEqual(['piqa/acc/3', 'piqa/acc_norm/3', 'hellaswag/acc/2', 'hellaswag/acc_norm/2']);
    expect(j.documents).toBe(5);
    expect(JSON.parse(readFileSync(outFile, 'utf8'))).toEqual(j);
    // --log_samples: res.samples.jsonl, one line per document, whose 0/1 metrics average to the table's values
    const samples = readFileSync(join(work.dir, 'res.samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { task: string; doc_id: number; metrics: Record<string, number> });
    expect(samples.map((x) => `${x.task}/${x.doc_id}`)).toEqual(['piqa/0', 'piqa/1', 'piqa/2', 'hellaswag/0', 'hellaswag/1']);
    for (const m of j.results) {
      const xs = samples.filter((x) => x.task === m.task).map((x) => x.metrics[m.metric]!);
      expect(xs.reduce((a, b) => a + b, 0) / xs.length).toBeCloseTo(m.value, 12);
    }
  });

  it('--eval_protocol llama.cpp prints llama-perplexity\'s running lines', async () => {
    const r = await runCli(['eval', '--model', STORIES, '--tasks', `hellaswag:${hsTxt}`, '--eval_protocol', 'llama.cpp']);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('task\tacc_norm\t95% confidence interval');
    expect(lines[1]).toMatch(/^1\t(0|100)\.00000000%\t\[\d+\.\d{4}%, \d+\.\d{4}%\]$/);
    expect(lines[2]).toMatch(/^2\t(0|50|100)\.00000000%\t/);
    expect(json(r.out).results[0]!.metric).toBe('acc_norm');
  });

  it('--tasks after quantizing evaluates the written output (auto_round, packed int4 read back)', async () => {
    const out = join(work.dir, 'q');
    const r = await runCli(['--model', STORIES, '--scheme', 'W4A16', '--group_size', '32', '--iters', '0', '--disable_opt_rtn', '--format', 'auto_round', '--output_dir', out, '--tasks', `piqa:${piqa}`, '--skip_sanity_check']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`tasks on ${out}`);
    expect(json(r.out).results[0]!.n).toBe(3);
  });

  it('packed documents (any --eval_bs), the KV cache rewound per choice and whole-sequence forwards give the same scores', async () => {
    const ar = new AutoRound(STORIES, { log: silentLogger, iters: 0 });
    const model = await ar.load();
    const registry = await ar.registry();
    const lm = registry.architecture(model.spec.architecture, model.dir).load(model.spec, model.checkpoint, await ar.backend());
    const tok = tokenizerOf(registry, model);
    const scores = async (o: { noPrefixSharing?: boolean; noPacking?: boolean; batchSize?: number }) => {
      const s: number[][] = [];
      for (const protocol of ['harness', 'llama.cpp'] as const) {
        await runTasks(lm, tok, [{ name: 'hellaswag', path: hsTxt }, ...(protocol === 'harness' ? [{ name: 'piqa', path: piqa }] : [])], { protocol, ...o, onScores: (_t, _i, x) => s.push([...x]) });
      }
      return s.flat();
    };
    const whole = await scores({ noPrefixSharing: true });
    expect(whole).toHaveLength(2 * 4 + 3 * 2 + 2 * 4);
    // documents one at a time through the KV cache, and packed forwards of 1, 2 and (default) all documents
    for (const o of [{ noPacking: true }, { batchSize: 1 }, { batchSize: 2 }, {}]) {
      const got = await scores(o);
      expect(got).toHaveLength(whole.length);
      got.forEach((x, i) => expect(Math.abs(x - whole[i]!), JSON.stringify(o)).toBeLessThan(1e-4 * Math.max(1, Math.abs(x))));
    }
    model.checkpoint.close();
  });
});

// 20–75 s on the shared 2-core machine (load 10–20): with the slow tests (AUTOROUND_SLOW_TESTS=1), as export-gguf's llama.cpp ones
describe.skipIf(!HAS_SHARED || process.env.AUTOROUND_SLOW_TESTS !== '1')(needsShared('llama.cpp protocol against node-llama-cpp (random draw)'), () => {
  it('--limit 6 on the whole HellaSwag file draws the tasks llama-perplexity draws and scores them as llama.cpp does on the GGUF file', async () => {
    const { nlc } = await loadNodeLlamaCpp();
    if (!nlc) return; // node-llama-cpp is an optional dev dependency
    const out = join(work.dir, 'gguf');
    const q = await runCli(['--model', STORIES, '--iters', '0', '--format', 'gguf:f32', '--output_dir', out, '--skip_sanity_check']);
    expect(q.code, q.err).toBe(0);
    const file = join(SHARED, 'datasets/eval/hellaswag_val_full.txt');
    const registry = await createRegistry({ discover: true });
    const model = openModel(registry, out);
    const ours: number[][] = [];
    const res = await folderTasks(registry, model, registry.kernelBackend({ threads: 1 }), [{ name: 'hellaswag', path: file }], { protocol: 'llama.cpp', limit: 6, onScores: (_t: string, _i: number, x: readonly number[]) => ours.push([...x]) } as TaskRunOptions);
    const tasks = selectLlamaCppTasks(parseLlamaCppHellaswag(readFileSync(file, 'utf8'), file), 6);
    // libstdc++'s Lemire draw: the first task is 10,042 · (std::mt19937(1)'s first output, 1791095845) >> 32
    expect(tasks[0]).toEqual(parseLlamaCppHellaswag(readFileSync(file, 'utf8'), file)[Number((1791095845n * 10042n) >> 32n)]);
    const tok = tokenizerOf(registry, model);
    const seqs = tasks.map((t) => t.endings.map((e) => Int32Array.from(tok.encode(`${t.context} ${e}`, { addSpecialTokens: true }))));
    const llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
    const gguf = join(out, readdirSync(out).find((f) => f.endsWith('.gguf'))!);
    const theirs = await llamaCppMeanLogProbs(llama, gguf, seqs.flatMap((four) => four.map((tokens) => ({ tokens, from: commonPrefix(four) }))));
    let correct = 0;
    ours.forEach((m, i) => {
      const t = theirs.slice(4 * i, 4 * i + 4);
      m.forEach((x, j) => expect(Math.abs(x - t[j]!)).toBeLessThan(2e-3));
      expect(m.indexOf(Math.max(...m))).toBe(t.indexOf(Math.max(...t)));
      if (t.indexOf(Math.max(...t)) === tasks[i]!.gold) correct++;
    });
    expect(res.log!.at(-1)).toBe(llamaCppLine(6, correct));
    model.checkpoint.close();
  }, 120_000);
});
