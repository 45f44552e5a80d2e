import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '@autoround/core';
import plugin, { loadCalibration, type ChatMessage } from '../src/index.js';
import { SKIP_REASON, asArrays, calibTokenizer, directIds, haveStories, keep, words } from './helpers.js';

const SEQLEN = 48;

/** A template in the style of ChatML, rendered as text. */
function render(messages: ChatMessage[]): string {
  return messages.map((m) => `<${m.role}> ${m.content}\n`).join('') + '<assistant>';
}

describe.skipIf(!haveStories)(`chat template options (${haveStories ? 'stories260K tokenizer' : SKIP_REASON})`, () => {
  let dir: string;
  const TEXTS = [words(40, 1), words(50, 2), words(45, 3)];
  // CPython: l = list(range(3)); random.Random(42).shuffle(l) -> [1, 0, 2]
  const ORDER = [1, 0, 2];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ar-calib-chat-'));
    writeFileSync(join(dir, 'c.json'), JSON.stringify(TEXTS));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const seen: ChatMessage[][] = [];
  const chatTok = (fail = false) =>
    calibTokenizer({
      applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }) {
        expect(opts?.addGenerationPrompt).toBe(true);
        seen.push(messages);
        if (fail && messages.some((m) => m.role === 'system')) throw new Error('system role not supported');
        return render(messages);
      },
    });
  const want = (sys: string | undefined) =>
    ORDER.map((i) => directIds(render([...(sys ? [{ role: 'system', content: sys }] : []), { role: 'user', content: TEXTS[i]! }]), SEQLEN)).filter((x) => keep(x, SEQLEN));

  it('apply_chat_template uses the default system prompt', async () => {
    const got = await loadCalibration(`${join(dir, 'c.json')}:apply_chat_template`, chatTok(), { seqlen: SEQLEN, seed: 42 });
    expect(asArrays(got)).toEqual(want('You are a helpful assistant.'));
    expect(got.length).toBe(3);
  });

  it('system_prompt=… sets it (spaces kept) and implies the template; an empty one sends none', async () => {
    const got = await loadCalibration(`${join(dir, 'c.json')}:system_prompt=You tell short stories.`, chatTok(), { seqlen: SEQLEN, seed: 42 });
    expect(asArrays(got)).toEqual(want('You tell short stories.'));
    const none = await loadCalibration(`${join(dir, 'c.json')}:system_prompt=`, chatTok(), { seqlen: SEQLEN, seed: 42 });
    expect(asArrays(none)).toEqual(want(undefined));
  });

  it('retries without the system message when the template refuses it', async () => {
    const log = memoryLogger();
    const got = await loadCalibration(`${join(dir, 'c.json')}:apply_chat_template`, chatTok(true), { seqlen: SEQLEN, seed: 42, log });
    expect(asArrays(got)).toEqual(want(undefined));
    expect(log.lines.filter((l) => l.includes('retrying without it')).length).toBe(1);
  });

  it('fails clearly when the tokenizer has no chat template', async () => {
    await expect(loadCalibration(`${join(dir, 'c.json')}:system_prompt=x`, calibTokenizer(), { seqlen: SEQLEN })).rejects.toThrow(
      /apply_chat_template \(implied by system_prompt\) needs a tokenizer with a chat template/,
    );
  });

  it('without the option, texts are tokenized as they are', async () => {
    const got = await loadCalibration(join(dir, 'c.json'), chatTok(), { seqlen: SEQLEN, seed: 42 });
    expect(asArrays(got)).toEqual(ORDER.map((i) => directIds(TEXTS[i]!, SEQLEN)));
  });
});

describe('self (data-free) source', () => {
  const tok = { encode: (s: string) => [...s].map((c) => c.charCodeAt(0)), bosTokenId: 1 };

  it('draws nsamples sequences of seqlen from the injected generator, replacing degenerate ones', async () => {
    const calls: [number, number][] = [];
    const generate = async (n: number, seed: number) => {
      calls.push([n, seed]);
      if (seed === 44) return Array(n).fill(7); // one token over and over: dropped by the filter
      return Array.from({ length: n }, (_, i) => ((seed * 31 + i * 17) % 500) + 3);
    };
    const got = await loadCalibration('self', tok, { nsamples: 4, seqlen: 16, seed: 42, generate });
    expect(got.length).toBe(4);
    expect(calls).toEqual([[16, 42], [16, 43], [16, 44], [16, 45], [16, 46]]);
    expect(Array.from(got[2]!)).toEqual(Array.from({ length: 16 }, (_, i) => ((45 * 31 + i * 17) % 500) + 3));
  });

  it('mixes with other datasets and honours num=', async () => {
    const generate = async (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed + i) % 100);
    const dir = mkdtempSync(join(tmpdir(), 'ar-calib-self-'));
    writeFileSync(join(dir, 'd.json'), JSON.stringify(['x'.repeat(40), 'y'.repeat(10) + 'z'.repeat(30), 'w'.repeat(50)]));
    const got = await loadCalibration(`self:num=2,${join(dir, 'd.json')}`, { ...tok, encode: (s: string) => [...s].map((c, i) => c.charCodeAt(0) + (i % 3)) }, { nsamples: 5, seqlen: 16, seed: 1, generate });
    expect(got.length).toBe(5);
    rmSync(dir, { recursive: true });
  });

  it('without a generator, says how to provide one', async () => {
    await expect(loadCalibration('self', tok, { nsamples: 2, seqlen: 8 })).rejects.toThrow(/--dataset self samples calibration text from the model, but no generator was given/);
  });
});

describe('plugin', () => {
  it('is a definePlugin object with one dataset source per kind', () => {
    expect(plugin.name).toBe('@autoround/calib-datasets');
    expect(plugin.datasets!.map((d) => d.name)).toEqual(['self', 'local', 'hub']);
    const hub = plugin.datasets!.find((d) => d.name === 'hub')!;
    expect(hub.matches('NeelNanda/pile-10k')).toBe(true);
    expect(hub.matches('pile-10k')).toBe(true);
    expect(hub.matches('someone/their-data')).toBe(true);
    expect(hub.matches('plain')).toBe(false);
    expect(plugin.datasets!.find((d) => d.name === 'self')!.matches('self')).toBe(true);
  });
});
