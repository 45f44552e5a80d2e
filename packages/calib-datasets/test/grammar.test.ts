import { describe, expect, it } from 'vitest';
import { DEFAULT_SYSTEM_PROMPT, parseDatasetSpec } from '../src/grammar.js';
import { lookupKnown } from '../src/registry.js';

describe('--dataset grammar', () => {
  it('defaults to NeelNanda/pile-10k', () => {
    for (const s of [undefined, '', '   ']) {
      const [d] = parseDatasetSpec(s);
      expect(d).toMatchObject({ name: 'NeelNanda/pile-10k', concat: false, applyChatTemplate: false, systemPrompt: DEFAULT_SYSTEM_PROMPT });
      expect(d!.split).toBeUndefined();
      expect(d!.num).toBeUndefined();
    }
  });

  it('parses items and options, stripping whitespace', () => {
    const items = parseDatasetSpec(' ./a.jsonl : num=3 : concat ,b.txt:split=train+test:concat=false:apply_chat_template , mbpp:split=train:num=10:concat=TRUE');
    expect(items.map((i) => i.name)).toEqual(['./a.jsonl', 'b.txt', 'mbpp']);
    expect(items[0]).toMatchObject({ num: 3, concat: true, applyChatTemplate: false });
    expect(items[1]).toMatchObject({ split: ['train', 'test'], concat: false, applyChatTemplate: true });
    expect(items[2]).toMatchObject({ split: ['train'], num: 10, concat: true });
    expect(items[0]!.options).toEqual({ num: '3', concat: true });
  });

  it('system_prompt implies apply_chat_template and keeps inner spaces; empty means no system message', () => {
    const [a, b, c, d] = parseDatasetSpec('x.json:system_prompt=You are a pirate.,y.json:system_prompt=,z.json:apply_chat_template=false,w.json:apply_chat_template=true');
    expect(a).toMatchObject({ applyChatTemplate: true, systemPrompt: 'You are a pirate.' });
    expect(b).toMatchObject({ applyChatTemplate: true, systemPrompt: '' });
    expect(c).toMatchObject({ applyChatTemplate: false, systemPrompt: DEFAULT_SYSTEM_PROMPT });
    expect(d).toMatchObject({ applyChatTemplate: true });
  });

  it('squeezes whitespace inside a name as the original does', () => {
    expect(parseDatasetSpec('Neel Nanda/pile-10k')[0]!.name).toBe('NeelNanda/pile-10k');
  });

  it('rejects malformed options and reports unknown ones', () => {
    expect(() => parseDatasetSpec('a.json:num=x')).toThrow(/num=x must be a whole number/);
    expect(() => parseDatasetSpec('a.json:num=')).toThrow(/must be a whole number/);
    expect(() => parseDatasetSpec('a.json:concat=maybe')).toThrow(/concat=maybe must be true or false/);
    expect(() => parseDatasetSpec('a.json,,b.json')).toThrow(/empty item/);
    expect(() => parseDatasetSpec('a.json:split=')).toThrow(/split= needs a value/);
    const unknown: string[] = [];
    const [d] = parseDatasetSpec('a.json:nmu=3:text_field=body', (_i, k) => unknown.push(k));
    expect(unknown).toEqual(['nmu']);
    expect(d!.options).toEqual({ nmu: '3', text_field: 'body' });
  });

  it('looks names up like the original registry (exact key, else substring for bare names)', () => {
    expect(lookupKnown('NeelNanda/pile-10k')?.repo).toBe('NeelNanda/pile-10k');
    expect(lookupKnown('pile-10k')?.repo).toBe('NeelNanda/pile-10k');
    expect(lookupKnown('pile')?.repo).toBe('NeelNanda/pile-10k');
    expect(lookupKnown('mbpp')?.repo).toBe('google-research-datasets/mbpp');
    expect(lookupKnown('ultrachat_200k')?.defaultSplit).toEqual(['train_sft']);
    expect(lookupKnown('me/code')).toBeUndefined();
  });
});
