// `auto-round generate` (docs/generate.md): the CLI prints the prompt and its continuation, and with
// --output_ids the ids as JSON; the numerics are packages/autoround/test/generate.test.ts's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { HAS_SHARED, STORIES, needsShared } from '@autoround/testing';

describe.skipIf(!HAS_SHARED)(needsShared('auto-round generate (stories260K)'), () => {
  const prompt = 'Once upon a time, there was a little girl named Lily.';
  it('greedy: the reference story, its text and ids', async () => {
    const gen = JSON.parse(readFileSync(join(STORIES, 'reference/reference_generation.json'), 'utf8')) as { input_ids: number[]; greedy_ids: number[] };
    const r = await runCli(['generate', '--model', STORIES, '--prompt', prompt, '--max_new_tokens', '30', '--output_ids']);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]!.startsWith(`${prompt} `)).toBe(true);
    const j = JSON.parse(lines.find((l) => l.startsWith('{'))!) as { prompt_ids: number[]; generated_ids: number[]; stopped_at_eos: boolean };
    expect(j.prompt_ids).toEqual(gen.input_ids);
    expect(j.generated_ids).toEqual(gen.greedy_ids.slice(gen.input_ids.length, gen.input_ids.length + 30));
    expect(j.stopped_at_eos).toBe(false);
  });

  it('sampled with a seed: repeatable; bad flags exit 1 naming the flag', async () => {
    const args = ['generate', '--model', STORIES, '--prompt', prompt, '--max_new_tokens', '12', '--temperature', '0.8', '--seed', '5', '--output_ids'];
    const a = await runCli(args);
    const b = await runCli(args);
    expect(a.code, a.err).toBe(0);
    expect(b.out).toBe(a.out);
    const noPrompt = await runCli(['generate', '--model', STORIES]);
    expect(noPrompt.code).toBe(1);
    expect(noPrompt.err).toMatch(/--prompt/);
    const badT = await runCli(['generate', '--model', STORIES, '--prompt', 'x', '--temperature', '-2']);
    expect(badT.code).toBe(1);
    expect(badT.err).toMatch(/--temperature/);
    expect(badT.err).not.toMatch(/\n\s+at /);
  });
});
