// The real consumer: node-llama-cpp (prebuilt llama.cpp) loads our files and generates.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportGguf } from '../src/index.js';
import { HAS_SHARED, LLAMA256, SHARED, STORIES, loadNodeLlamaCpp, type NodeLlamaCpp } from '@autoround/testing';

const stories = STORIES;
const llama256 = LLAMA256;
const haveShared = HAS_SHARED && existsSync(join(llama256, 'model.safetensors'));
const slow = process.env.AUTOROUND_SLOW_TESTS === '1';

const { nlc, why } = await loadNodeLlamaCpp();

const tmp = mkdtempSync(join(tmpdir(), 'gguf-llamacpp-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let llama: Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
beforeAll(async () => {
  if (nlc && haveShared) llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
});

/** Greedy continuation of `ids` (which include BOS), as token ids. */
async function greedy(file: string, ids: number[], n: number): Promise<{ ids: number[]; text: string; promptIds: number[] }> {
  const model = await llama.loadModel({ modelPath: file });
  try {
    const ctx = await model.createContext({ contextSize: 256, threads: 1 });
    try {
      const seq = ctx.getSequence();
      const out: number[] = [];
      for await (const t of seq.evaluate(ids as never[], { temperature: 0 })) {
        out.push(t as unknown as number);
        if (out.length >= n) break;
      }
      return { ids: out, text: model.detokenize(out as never[]), promptIds: [] };
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

async function tokenize(file: string, text: string): Promise<number[]> {
  const model = await llama.loadModel({ modelPath: file });
  try {
    return [...model.tokenize(text)].map(Number);
  } finally {
    await model.dispose();
  }
}

function agreement(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

const results: string[] = [];
afterAll(() => {
  if (results.length) console.log(`node-llama-cpp greedy continuations:\n${results.join('\n')}`);
});

describe.skipIf(!haveShared || !nlc)('node-llama-cpp loads and runs our GGUF files', () => {
  const ref = haveShared ? (JSON.parse(readFileSync(join(stories, 'reference/reference_generation.json'), 'utf8')) as { input_ids: number[]; greedy_ids: number[]; greedy_text: string }) : null;

  it('stories260K F32: tokenization and the 64-token greedy continuation equal the reference', async () => {
    const file = join(tmp, 'stories260K-F32.gguf');
    await exportGguf({ modelDir: stories, outFile: file, fileType: 'F32' });
    const prompt = 'Once upon a time, there was a little girl named Lily.';
    expect(await tokenize(file, prompt)).toEqual(ref!.input_ids.slice(1)); // SPM scores reproduce the HF tokenizer
    const g = await greedy(file, ref!.input_ids, ref!.greedy_ids.length - ref!.input_ids.length);
    expect(g.ids).toEqual(ref!.greedy_ids.slice(ref!.input_ids.length));
    results.push(`stories260K F32: ${g.ids.length}/${g.ids.length} tokens equal the reference`);
  });

  const storyTypes = slow ? ['F16', 'BF16', 'Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_K_S', 'Q4_K_M', 'Q4_K_S', 'Q3_K_L', 'Q3_K_M', 'Q3_K_S', 'Q2_K_S', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'MXFP4_MOE'] : ['F16', 'Q8_0', 'Q4_K_M', 'Q2_K_S', 'MXFP4_MOE'];
  it(`stories260K ${storyTypes.join(', ')}: load and generate`, async () => {
    for (const ft of storyTypes) {
      const file = join(tmp, `stories260K-${ft}.gguf`);
      await exportGguf({ modelDir: stories, outFile: file, fileType: ft });
      const g = await greedy(file, ref!.input_ids, 32);
      expect(g.ids.length).toBe(32);
      const same = agreement(g.ids, ref!.greedy_ids.slice(ref!.input_ids.length));
      results.push(`stories260K ${ft}: ${same}/32 leading tokens equal the F32 reference: ${JSON.stringify(g.text.slice(0, 70))}`);
      if (ft === 'F16' || ft === 'BF16' || ft === 'Q8_0') expect(same).toBeGreaterThanOrEqual(16);
    }
  });

  it('llama-256 F32: greedy continuations equal llama.cpp’s (README)', async () => {
    const file = join(tmp, 'llama-256-F32.gguf');
    await exportGguf({ modelDir: llama256, outFile: file, fileType: 'F32' });
    const cases: [string, string, number][] = [
      [
        'Once upon a time',
        " Once upon a time, there was a little girl named Lily. She loved to play with her toys and play with her toys. One day, Lily's mommy told her to the park. She was so happy that she was always re",
        60,
      ],
      ['The city council', ' The city council is an important to remove the responsible responsible.\nThe responsible is an important', 60],
    ];
    for (const [prompt, want] of cases) {
      const ids = [1, ...(await tokenize(file, prompt))];
      const g = await greedy(file, ids, 60);
      const text = (await detok(file, [...ids.slice(1), ...g.ids])).replace(/<\/s>.*$/s, '');
      expect(` ${text}`.startsWith(want) || want.startsWith(` ${text}`)).toBe(true);
      results.push(`llama-256 F32 "${prompt}": ${JSON.stringify(text.slice(0, 90))}`);
    }
  });

  const l256Types = slow ? ['F16', 'BF16', 'Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_K_S', 'Q4_K_M', 'Q4_K_S', 'Q3_K_L', 'Q3_K_M', 'Q3_K_S', 'Q2_K_S', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'MXFP4_MOE'] : ['Q8_0', 'Q6_K', 'Q4_K_M', 'Q3_K_M', 'Q2_K_S', 'MXFP4_MOE'];
  it(`llama-256 ${l256Types.join(', ')}: load and generate`, async () => {
    const f32 = join(tmp, 'llama-256-F32.gguf');
    if (!existsSync(f32)) await exportGguf({ modelDir: llama256, outFile: f32, fileType: 'F32' });
    const ids = [1, ...(await tokenize(f32, 'Once upon a time'))];
    const base = await greedy(f32, ids, 40);
    for (const ft of l256Types) {
      const file = join(tmp, `llama-256-${ft}.gguf`);
      await exportGguf({ modelDir: llama256, outFile: file, fileType: ft });
      const g = await greedy(file, ids, 40);
      expect(g.ids.length).toBe(40);
      const same = agreement(g.ids, base.ids);
      results.push(`llama-256 ${ft}: ${same}/40 leading tokens equal F32: ${JSON.stringify(g.text.slice(0, 80))}`);
      if (ft === 'Q8_0' || ft === 'Q6_K') expect(same).toBeGreaterThanOrEqual(10);
    }
  });
});

async function detok(file: string, ids: number[]): Promise<string> {
  const model = await llama.loadModel({ modelPath: file });
  try {
    return model.detokenize(ids as never[]);
  } finally {
    await model.dispose();
  }
}

it('says why node-llama-cpp tests were skipped', () => {
  if (!haveShared) console.warn(`skipped node-llama-cpp tests: ${SHARED} has no stories260K / llama-256`);
  else if (!nlc) console.warn(`skipped node-llama-cpp tests: cannot load node-llama-cpp (${why})`);
  expect(true).toBe(true);
});
