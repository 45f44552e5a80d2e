// `auto-round eval --tasks` and `--tasks` after quantizing (docs/eval/tasks.md): the table, the JSON, the
// llama.cpp protocol's running lines, bad input; and on a real LLaMA (stories260K) the packed scorer (several
// documents per forward, --eval_bs) and the KV-cache one (rewound per choice) against whole-sequence forwards.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoRound, silentLogger, tokenizerOf } from '@autoround/autoround';
import { runTasks } from '@autoround/eval-tasks';
import { HAS_SHARED, STORIES, needsShared, tempDir } from '@autoround/testing';
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
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('eval --tasks on stories260K'), () => {
  it('eval prints the table and the JSON line and writes --tasks_output', async () => {
    const outFile = join(work.dir, 'res.json');
    const r = await runCli(['eval', '--model', STORIES, '--tasks', `piqa:${piqa},hellaswag:${hsTxt}`, '--tasks_output', outFile]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/task\s+metric\s+value\s+stderr/);
    expect(r.out).toMatch(/piqa\s+acc_norm\s+\d\.\d{4}\s+\d\.\d{4}/);
    const j = json(r.out);
    expect(j.protocol).toBe('harness');
    expect(j.results.map((m) => `${m.task}/${m.metric}/${m.n}`)).toEqual(['piqa/acc/3', 'piqa/acc_norm/3', 'hellaswag/acc/2', 'hellaswag/acc_norm/2']);
    expect(j.documents).toBe(5);
    expect(JSON.parse(readFileSync(outFile, 'utf8'))).toEqual(j);
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
