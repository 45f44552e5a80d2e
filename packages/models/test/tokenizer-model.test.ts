// Issue #13 item 15: a tokenizer.json whose model is not one the LLaMA family uses (WordPiece,
// WordLevel) is an unsupported tokenizer named by file and model type, not a dataset problem later.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../src/index.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

function folder(name: string, model: unknown): string {
  const d = join(work.dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'tokenizer.json'), JSON.stringify({ version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: null, model }));
  return d;
}

describe('loadTokenizer refuses tokenizer models it does not support', () => {
  it('WordPiece and WordLevel: "unsupported tokenizer: model type …", naming tokenizer.json', () => {
    const wp = folder('wp', { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: { '[UNK]': 0, a: 1, '##b': 2 } });
    expect(() => loadTokenizer(wp)).toThrow(`${join(wp, 'tokenizer.json')}: unsupported tokenizer: model type "WordPiece"`);
    const wl = folder('wl', { type: 'WordLevel', unk_token: '[UNK]', vocab: { '[UNK]': 0, a: 1 } });
    expect(() => loadTokenizer(wl)).toThrow(/wl\/tokenizer\.json: unsupported tokenizer: model type "WordLevel"/);
    const none = folder('none', null);
    expect(() => loadTokenizer(none)).toThrow(/none\/tokenizer\.json: no "model" section/);
  });

  it('a BPE model (also without its "type", as older files have it) still loads', () => {
    const model = { dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: { a: 0, b: 1, ab: 2, H: 3, e: 4, l: 5, o: 6 }, merges: ['a b'] };
    expect(loadTokenizer(folder('bpe', { type: 'BPE', ...model })).encode('ab', { addSpecialTokens: false })).toEqual([2]);
    expect(loadTokenizer(folder('bpe-untyped', model)).encode('ab', { addSpecialTokens: false })).toEqual([2]);
  });

  it('a valid BPE whose vocabulary covers none of the load-time probe text still loads', () => {
    const model = { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'] };
    expect(loadTokenizer(folder('bpe-tiny', model)).encode('ab', { addSpecialTokens: false })).toEqual([2]);
  });
});
