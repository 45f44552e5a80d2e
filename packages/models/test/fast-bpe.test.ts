import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { HAS_SHARED, LLAMA256, SHARED, STORIES, needsShared, tempDir, xorshiftRandom as rng } from '@autoround/testing';
import { createFastEncoder, fastEncoderUnsupported, loadTokenizer } from '../src/index.js';

// The word-memoizing encoder (src/fast-bpe.ts) must give @huggingface/tokenizers' ids token for token.

type Json = Record<string, unknown>;

function readTok(dir: string): { json: Json; config: Json } {
  return { json: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), config: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) };
}

/** Equal ids; on a difference, the first one with some context (toEqual on 100k-element arrays is slow). */
function expectSameIds(got: readonly unknown[], want: readonly unknown[], label: string): void {
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  if (i === got.length && i === want.length) return;
  expect({ at: i, got: got.slice(Math.max(0, i - 4), i + 8), lengthGot: got.length }, label).toEqual({ at: i, got: want.slice(Math.max(0, i - 4), i + 8), lengthGot: want.length });
}

/** Plain library ids, and the fast encoder's, for one text. */
function both(json: Json, config: Json) {
  const plain = new Tokenizer(structuredClone(json), config);
  const fast = createFastEncoder(new Tokenizer(structuredClone(json), config));
  return {
    fast,
    plain: (text: string, add = true) => plain.encode(text, { add_special_tokens: add }).ids,
    check(text: string, add = true) {
      const want = plain.encode(text, { add_special_tokens: add }).ids;
      const got = fast ? fast.encode(text, add) : want;
      expectSameIds(got, want, JSON.stringify(text.slice(0, 80)));
    },
  };
}


/** The whole text in pieces of 2k–12k characters cut anywhere (mid-word, mid-space-run, mid-line). */
function chunks(text: string, seed: number): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    let n = 2000 + Math.floor(r() * 10000);
    const c = text.charCodeAt(i + n - 1);
    if (c >= 0xd800 && c <= 0xdbff) n++; // keep surrogate pairs whole, as texts are
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

const EDGE = [
  '',
  ' ',
  '   ',
  '\n',
  '\n\n\n',
  'a',
  ' a',
  'a ',
  'a  b',
  'a   b    c',
  '   leading spaces',
  'trailing spaces   ',
  ' '.repeat(300) + 'x' + ' '.repeat(300),
  'tab\there\tand\r\nCRLF\r\n',
  'new\nlines\n\n  indented\n',
  '▁',
  '▁▁',
  '▁▁x ▁ y▁ z▁▁',
  'x▁y',
  'naïve café, résumé — “quotes” ‘single’ … ½ ° ©',
  '東京タワー 你好，世界 안녕하세요 مرحبا שלום Привет',
  'emoji 😀👍🏽👨‍👩‍👧‍👦 🇫🇷 and more😀😀 😀',
  'lone surrogates \uD800 x \uDC00y \uD83D',
  'combining e\u0301 a\u0308 and zero\u200Bwidth\uFEFF',
  '\u0000 nul and \u0007 bell \u007f',
  '<s> </s> <unk>',
  'text<s>inside</s>words<unk>x',
  '<s>',
  ' <s> ',
  'supercalifragilisticexpialidocious'.repeat(10),
  'x'.repeat(500),
  'a'.repeat(129) + ' ' + 'b'.repeat(128),
  "It's a dog's life, isn't it? Yes -- 100% (really!) [1] {2} #3 @4 $5.00 & 6*7=42; a/b\\c",
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.',
];

describe.skipIf(!HAS_SHARED)(needsShared('fast BPE encoder on the fixture tokenizers'), () => {
  // The fixtures are read on first use inside a test or hook, never while vitest collects the suite: a skipped
  // suite's body still runs, and a fresh clone has no ../shared (issue #13 item 16).
  const TEXTS = {
    tinystories: 'datasets/tinystories/TinyStories-validation-sample.txt',
    wikitext2: 'datasets/wikitext-2-raw/wiki.test.raw',
    tinyshakespeare: 'datasets/tinyshakespeare/input.txt',
  } as const;
  const read = new Map<string, string>();
  const sharedText = (rel: string): string => {
    let t = read.get(rel);
    if (t === undefined) read.set(rel, (t = readFileSync(join(SHARED, rel), 'utf8')));
    return t;
  };
  const c4 = () =>
    sharedText('datasets/calibration/c4_sample_1480.text.jsonl')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { text: string }).text);
  // The plain library's ids, computed once per tokenizer.json (the library's encode is deterministic, so two
  // byte-identical tokenizer files give the same ids; the fast encoder of each is checked against them).
  const reference = new Map<string, Map<string, number[]>>();
  const refFor = (tok: { json: Json; config: Json }) => {
    const key = JSON.stringify(tok.json) + JSON.stringify(tok.config);
    let m = reference.get(key);
    if (!m) reference.set(key, (m = new Map()));
    return m;
  };

  for (const [name, dir] of [
    ['stories260K', STORIES],
    ['llama-256', LLAMA256],
  ] as const) {
    describe(name, () => {
      let tok: ReturnType<typeof readTok>;
      let h: ReturnType<typeof both>;
      let ref: Map<string, number[]>;
      beforeAll(() => {
        tok = readTok(dir);
        h = both(tok.json, tok.config);
        ref = refFor(tok);
      });
      const compare = (id: string, text: string, add = true) => {
        let want = ref.get(`${add}:${id}`);
        if (!want) ref.set(`${add}:${id}`, (want = h.plain(text, add)));
        expectSameIds(h.fast!.encode(text, add), want, `${id} ${JSON.stringify(text.slice(0, 60))}`);
      };

      it('is accepted (no merge crosses a ▁ word start) and used by loadTokenizer', () => {
        expect(fastEncoderUnsupported(new Tokenizer(structuredClone(tok.json), tok.config))).toBeUndefined();
        expect(h.fast).toBeDefined();
        const t = loadTokenizer(dir);
        expect(t.fastEncode).toBe(true);
        expect(t.encode('Hello world')).toEqual(h.plain('Hello world').map(Number));
      });

      it('edge cases: spaces, newlines, unicode, emoji, surrogates, byte fallback, added tokens, empty text', () => {
        for (const text of EDGE) {
          h.check(text, true);
          h.check(text, false);
        }
        // Byte fallback is really exercised: characters outside the vocab come out as <0x..> bytes.
        const bytes = h.plain('😀東', false);
        expect(bytes.length).toBeGreaterThanOrEqual(7);
      });

      for (const [tname, rel] of Object.entries(TEXTS)) {
        it(`${tname}: every character, in pieces cut anywhere, token for token`, () => {
          const parts = chunks(sharedText(rel), 7);
          parts.forEach((p, i) => compare(`${tname}#${i}`, p, true));
          // Without special tokens too, on a few.
          for (let i = 0; i < parts.length; i += 16) compare(`${tname}#${i}`, parts[i]!, false);
        });
      }

      it('wikitext-2: a 120k-character text in one piece', () => {
        compare('wikitext2-long', sharedText(TEXTS.wikitext2).slice(200_000, 320_000));
      });

      it('c4 calibration jsonl: each of the 1,480 documents whole', () => {
        c4().forEach((d, i) => compare(`c4#${i}`, d));
      });
    });
  }
});

describe.skipIf(!HAS_SHARED)(needsShared('fast BPE encoder: refusals and rare paths'), () => {
  let stories: ReturnType<typeof readTok>;
  beforeAll(() => {
    stories = readTok(STORIES);
  });

  it('refuses a tokenizer with a merge that joins a word to the next (and loadTokenizer keeps the library encoder)', () => {
    const json = structuredClone(stories.json) as { model: { merges: string[]; vocab: Record<string, number> } };
    json.model.merges.push('e ▁t');
    const tok = new Tokenizer(json, stories.config);
    expect(fastEncoderUnsupported(tok)).toMatch(/merge "e ▁t" joins/);
    expect(createFastEncoder(tok)).toBeUndefined();
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
      writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(stories.config));
      const t = loadTokenizer(dir);
      expect(t.fastEncode).toBe(false);
      const plain = new Tokenizer(structuredClone(json), stories.config);
      expect(t.encode('the tree ate the tea')).toEqual(plain.encode('the tree ate the tea').ids);
    } finally {
      cleanup();
    }
  });

  it('refuses models other than BPE and BPE with ignore_merges', () => {
    const json = structuredClone(stories.json) as { model: Json };
    json.model.ignore_merges = true;
    expect(fastEncoderUnsupported(new Tokenizer(json, stories.config))).toMatch(/ignore_merges/);
  });

  it('unknown characters without byte fallback: fuse_unk across words, as the library does', () => {
    const json = structuredClone(stories.json) as { model: { byte_fallback: boolean; vocab: Record<string, number> } };
    json.model.byte_fallback = false;
    const h = both(json, stories.config);
    expect(h.fast).toBeDefined();
    for (const text of ['é é', 'éé ü x', '😀 😀😀 a 😀', 'ab 東京 cd', ...EDGE]) {
      h.check(text);
      h.check(text, false);
    }
    h.check(readFileSync(join(SHARED, 'datasets/wikitext-2-raw/wiki.test.raw'), 'utf8').slice(0, 30_000));
    // Without "▁" in the vocab, a word start is itself unknown and fuses with the unknown end of the word before.
    delete json.model.vocab['▁'];
    const h2 = both(json, stories.config);
    expect(h2.fast).toBeDefined();
    expect(h2.plain('東 東', false)).toEqual([0]);
    for (const text of ['東 東', '東 東x 東', ' 東  東 ', '😀 😀 a', 'é é', ...EDGE]) {
      h2.check(text);
      h2.check(text, false);
    }
  });

  it('byte-level BPE (ByteLevel pre-tokenizer, GPT-2 style): accepted and exact', () => {
    const chars: string[] = [];
    for (let b = 33; b <= 126; b++) chars.push(String.fromCharCode(b));
    for (let b = 161; b <= 172; b++) chars.push(String.fromCharCode(b));
    for (let b = 174; b <= 255; b++) chars.push(String.fromCharCode(b));
    for (let n = 0; n < 68; n++) chars.push(String.fromCharCode(256 + n));
    const vocab: Record<string, number> = {};
    for (const c of chars) vocab[c] = Object.keys(vocab).length;
    const merges = ['Ġ t', 'h e', 'Ġt he', 'Ġ a', 'i n', 'Ġ s', 'e r', 'Ġa n', 'Ġan d', 'o n'];
    for (const m of merges) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
    vocab['<|endoftext|>'] = Object.keys(vocab).length;
    const json = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [{ id: vocab['<|endoftext|>'], content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
    };
    const h = both(json, {});
    expect(h.fast).toBeDefined();
    for (const text of [...EDGE, 'the cat and the hat<|endoftext|>in the inn']) {
      h.check(text);
      h.check(text, false);
    }
    for (const p of chunks(readFileSync(join(SHARED, 'datasets/tinyshakespeare/input.txt'), 'utf8').slice(0, 60_000), 3)) h.check(p);
  });
});
