// Damaged tokenizer.json files found by tools/fuzz: the library builds them without complaint and then throws a
// bare TypeError at the first encode; loadTokenizer must name the file instead.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAutoRoundError } from '@autoround/core';
import { loadTokenizer } from '../src/index.js';
import { tempDir, thrown } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

/** A small SentencePiece-style BPE tokenizer.json, with a post_processor as LLaMA's adds <s>. */
function tokenizerJson(postProcessor: unknown): object {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2, '▁': 3 };
  for (const c of 'abcdefghijklmnopqrstuvwxyzHW,.0123456789') vocab[c] ??= Object.keys(vocab).length;
  return {
    version: '1.0',
    added_tokens: [0, 1, 2].map((id) => ({ id, content: ['<unk>', '<s>', '</s>'][id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: postProcessor,
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'Fuse' }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', fuse_unk: true, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
}

function folder(name: string, postProcessor: unknown): string {
  const dir = join(work.dir, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(postProcessor)));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>' }));
  return dir;
}

const template = (single: unknown) => ({ type: 'TemplateProcessing', single, pair: [], special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } });

describe('damaged tokenizer.json', () => {
  it('a TemplateProcessing whose "single" is not a list is refused at load, naming the file', () => {
    const dir = folder('bad-template', template(0));
    const err = thrown(() => loadTokenizer(dir));
    expect(isAutoRoundError(err), String(err)).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`^${join(dir, 'tokenizer.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: the tokenizer it describes fails \\(.+\\); is the file damaged\\?$`));
  });

  for (const added of ['awq', [{ id: 'x', content: '<s>' }], [null], { 0: '<unk>' }]) {
    it(`added_tokens ${JSON.stringify(added)} is refused at load, naming the file`, () => {
      const dir = folder(`bad-added-${JSON.stringify(added).replace(/\W/g, '')}`, null);
      const tj = join(dir, 'tokenizer.json');
      writeFileSync(tj, JSON.stringify({ ...tokenizerJson(null), added_tokens: added }));
      const err = thrown(() => loadTokenizer(dir));
      expect(isAutoRoundError(err), String(err)).toBe(true);
      expect((err as Error).message).toMatch(new RegExp(`^${tj.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: "added_tokens" must be a list of \\{ "id": integer, "content": string \\} entries$`));
    });
  }

  it('the same tokenizer with a valid template loads and encodes', () => {
    const t = loadTokenizer(folder('good-template', template([{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }])));
    const ids = t.encode('Hello world');
    expect(ids[0]).toBe(1);
    expect(t.decode(ids.slice(1))).toBe(' Hello world'.replace(/^ /, ' '));
  });
});
