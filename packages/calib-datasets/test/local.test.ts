import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { memoryLogger } from '@autoround/core';
import { AutoRoundError } from '@autoround/core-tensor';
import { loadCalibration } from '../src/index.js';
import { TruncatingEncoder } from '../src/tokenizer.js';
import { readTextFile } from '../src/local.js';
import {
  SKIP_REASON,
  asArrays,
  calibTokenizer,
  directIds,
  expectedSamples,
  haveStories,
  hfTokenizer,
  keep,
  shared,
  words,
} from './helpers.js';

const SEQLEN = 64;
// CPython: l = list(range(10)); random.Random(42).shuffle(l) -> [7, 3, 2, 8, 5, 6, 9, 4, 0, 1]
const PY42_10 = [7, 3, 2, 8, 5, 6, 9, 4, 0, 1];
// Lengths in words: some too short for 64 tokens; doc 5 is one token repeated (dropped by the repetition filter).
const LENGTHS = [60, 10, 80, 5, 100, 0, 70, 3, 90, 55];
const TEXTS = LENGTHS.map((n, i) => (i === 5 ? 'ha '.repeat(200).trim() : words(n, i + 1)));
TEXTS[2] += '   \n\n'; // right-stripped by the loader

describe.skipIf(!haveStories)(`local calibration sources (${haveStories ? 'stories260K tokenizer' : SKIP_REASON})`, () => {
  let dir: string;
  const tok = () => calibTokenizer();
  const expected = () => expectedSamples(PY42_10.map((i) => TEXTS[i]!), SEQLEN, 128);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ar-calib-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the expected samples are what the data implies (sanity of the fixture)', () => {
    const e = expected();
    // docs 1, 3, 7 are too short; doc 5 repeats its last token; 6 remain
    expect(e.length).toBe(6);
    expect(directIds(TEXTS[5]!, SEQLEN).length).toBe(SEQLEN);
    expect(keep(directIds(TEXTS[5]!, SEQLEN), SEQLEN)).toBe(false);
    for (const ids of e) expect(ids[0]).toBe(1);
  });

  it('JSON: a list of strings, a list of {text}, a dict of values, a text_field', async () => {
    const files = {
      'strings.json': TEXTS,
      'objects.json': TEXTS.map((text, i) => ({ text, id: i })),
      'dict.json': Object.fromEntries(TEXTS.map((t, i) => [`k${i}`, t])),
      'single-key.json': TEXTS.map((t) => ({ body: t })),
    };
    for (const [name, data] of Object.entries(files)) {
      writeFileSync(join(dir, name), JSON.stringify(data));
      const got = await loadCalibration(join(dir, name), tok(), { seqlen: SEQLEN, nsamples: 128, seed: 42 });
      expect(asArrays(got), name).toEqual(expected());
    }
    writeFileSync(join(dir, 'field.json'), JSON.stringify(TEXTS.map((t) => ({ body: t, title: 'x' }))));
    const got = await loadCalibration(`${join(dir, 'field.json')}:text_field=body`, tok(), { seqlen: SEQLEN, seed: 42 });
    expect(asArrays(got)).toEqual(expected());
    const err = await loadCalibration(join(dir, 'field.json'), tok(), { seqlen: SEQLEN }).catch((e) => e);
    expect(err).toBeInstanceOf(AutoRoundError);
    expect(err.message).toMatch(/field\.json record 0: expected a string, or an object with "text".*keys body, title/);
  });

  it('JSON Lines (blank lines ignored), with nsamples capping', async () => {
    writeFileSync(join(dir, 'd.jsonl'), TEXTS.map((text) => JSON.stringify({ text, meta: 1 })).join('\n') + '\n\n');
    const got = await loadCalibration(join(dir, 'd.jsonl'), tok(), { seqlen: SEQLEN, nsamples: 4, seed: 42 });
    expect(asArrays(got)).toEqual(expected().slice(0, 4));
    writeFileSync(join(dir, 'bad.jsonl'), '{"text": "a"}\n{oops\n');
    await expect(loadCalibration(join(dir, 'bad.jsonl'), tok(), { seqlen: SEQLEN })).rejects.toThrow(/bad\.jsonl line 2 is not valid JSON/);
  });

  it('Parquet (hyparquet): the text column, or text_field', async () => {
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'id', data: TEXTS.map((_, i) => i), type: 'INT32' },
        { name: 'text', data: TEXTS, type: 'STRING' },
        { name: 'other', data: TEXTS.map((t) => t.toUpperCase()), type: 'STRING' },
      ],
    });
    writeFileSync(join(dir, 'd.parquet'), new Uint8Array(buf));
    const got = await loadCalibration(join(dir, 'd.parquet'), tok(), { seqlen: SEQLEN, seed: 42 });
    expect(asArrays(got)).toEqual(expected());
    const upper = await loadCalibration(`${join(dir, 'd.parquet')}:text_field=other`, tok(), { seqlen: SEQLEN, seed: 42 });
    expect(asArrays(upper)).toEqual(expectedSamples(PY42_10.map((i) => TEXTS[i]!.toUpperCase()), SEQLEN, 128));
    const err = await loadCalibration(`${join(dir, 'd.parquet')}:text_field=nope`, tok(), { seqlen: SEQLEN }).catch((e) => e);
    expect(err.message).toMatch(/has no column "nope" \(columns: id, text, other\)/);
  });

  it('plain text: documents at blank lines (or one per line with :lines)', async () => {
    const body = TEXTS.map((t) => t.trimEnd()).join('\n\n  \n') + '\n';
    writeFileSync(join(dir, 'd.txt'), body);
    expect(readTextFile(join(dir, 'd.txt'))).toEqual(TEXTS.map((t) => t.trimEnd()));
    const got = await loadCalibration(join(dir, 'd.txt'), tok(), { seqlen: SEQLEN, seed: 42 });
    expect(asArrays(got)).toEqual(expected());
    writeFileSync(join(dir, 'lines.txt'), 'first line\nsecond line\n\nthird\n');
    expect(readTextFile(join(dir, 'lines.txt'), true)).toEqual(['first line', 'second line', 'third']);
    expect(readTextFile(join(dir, 'lines.txt'))).toEqual(['first line\nsecond line', 'third']);
  });

  it('another seed gives another order', async () => {
    writeFileSync(join(dir, 's.json'), JSON.stringify(TEXTS));
    const got = await loadCalibration(join(dir, 's.json'), tok(), { seqlen: SEQLEN, seed: 7 });
    // CPython: l = list(range(10)); random.Random(7).shuffle(l) -> [8, 3, 1, 4, 7, 0, 9, 6, 2, 5]
    expect(asArrays(got)).toEqual(expectedSamples([8, 3, 1, 4, 7, 0, 9, 6, 2, 5].map((i) => TEXTS[i]!), SEQLEN, 128));
  });

  it('concat packs documents into seqlen chunks with one BOS each', async () => {
    writeFileSync(join(dir, 'c.json'), JSON.stringify(TEXTS));
    const got = await loadCalibration(`${join(dir, 'c.json')}:concat`, tok(), { seqlen: SEQLEN, seed: 42 });
    // Independently: strip BOS from each truncated doc (in shuffled order), concatenate, cut into 63-token pieces, prefix BOS.
    const stream = PY42_10.flatMap((i) => directIds(TEXTS[i]!.trimEnd(), SEQLEN).slice(1));
    const chunks: number[][] = [];
    for (let k = 0; (k + 1) * (SEQLEN - 1) <= stream.length; k++) chunks.push([1, ...stream.slice(k * (SEQLEN - 1), (k + 1) * (SEQLEN - 1))]);
    expect(asArrays(got)).toEqual(chunks.filter((c) => keep(c, SEQLEN)));
    expect(got.length).toBeGreaterThan(3);
  });

  it('several datasets: num= takes exactly, the rest share nsamples evenly (smallest first), then a seeded shuffle', async () => {
    writeFileSync(join(dir, 'a.json'), JSON.stringify(TEXTS)); // 6 samples pass
    const more = [...TEXTS, ...TEXTS.map((t) => t.replace(/the/g, 'a'))];
    writeFileSync(join(dir, 'b.json'), JSON.stringify(more)); // 20 records
    const log = memoryLogger();
    const got = await loadCalibration(`${join(dir, 'b.json')},${join(dir, 'a.json')}`, tok(), { seqlen: SEQLEN, nsamples: 8, seed: 42, log });
    const a = expected();
    const bAll = (await loadCalibration(join(dir, 'b.json'), tok(), { seqlen: SEQLEN, nsamples: 100, seed: 42 })).map((x) => Array.from(x));
    expect(bAll.length).toBe(12);
    // a (6) sorts before b (12): a takes 8 // 2 = 4, b takes (8 - 4) // 1 = 4; concatenated [a4, b4] and
    // shuffled with numpy default_rng(42).permutation(8) = [3, 4, 2, 7, 6, 1, 5, 0]
    const concat = [...a.slice(0, 4), ...bAll.slice(0, 4)];
    expect(asArrays(got)).toEqual([3, 4, 2, 7, 6, 1, 5, 0].map((i) => concat[i]));
    expect(log.lines.some((l) => /samples per dataset: .*a\.json: 4, .*b\.json: 4/.test(l))).toBe(true);

    // capped at the smaller dataset's length: nsamples 20 -> a gives all 6, b gives 14 -> only 12
    const capped = await loadCalibration(`${join(dir, 'a.json')},${join(dir, 'b.json')}`, tok(), { seqlen: SEQLEN, nsamples: 20, seed: 42 });
    expect(capped.length).toBe(18);

    // num=: b:num=2 takes exactly 2; a (the only free one) gets min(8 - 2, 6) = 6
    const withNum = await loadCalibration(`${join(dir, 'a.json')},${join(dir, 'b.json')}:num=2`, tok(), { seqlen: SEQLEN, nsamples: 8, seed: 42 });
    const pool = [...bAll.slice(0, 2), ...a.slice(0, 6)]; // b (2) sorts first
    expect(asArrays(withNum)).toEqual([3, 4, 2, 7, 6, 1, 5, 0].map((i) => pool[i]));

    // a single dataset with num= is just its first num samples
    const one = await loadCalibration(`${join(dir, 'a.json')}:num=3`, tok(), { seqlen: SEQLEN, nsamples: 8, seed: 42 });
    expect(asArrays(one)).toEqual(a.slice(0, 3));
  });

  it('truncation keeps special tokens the tokenizer appends (EOS), like transformers', async () => {
    const t = hfTokenizer();
    const withEos = calibTokenizer({
      encode: (text: string, o?: { addSpecialTokens?: boolean }) => {
        const ids = t.encode(text, { add_special_tokens: false }).ids;
        return o?.addSpecialTokens === false ? ids : [1, ...ids, 2];
      },
    });
    writeFileSync(join(dir, 'e.json'), JSON.stringify(TEXTS));
    const got = await loadCalibration(join(dir, 'e.json'), withEos, { seqlen: SEQLEN, seed: 42 });
    for (const s of got) {
      expect(s[0]).toBe(1);
      expect(s[SEQLEN - 1]).toBe(2);
    }
    // Independently: [BOS, content…, EOS] with the content cut so that the whole fits in seqlen.
    const want = PY42_10.map((i) => {
      const c = t.encode(TEXTS[i]!.trimEnd(), { add_special_tokens: false }).ids;
      return [1, ...c.slice(0, SEQLEN - 2), 2];
    }).filter((ids) => keep(ids, SEQLEN));
    expect(asArrays(got)).toEqual(want);
  });

  it('tokenizing a prefix of a long text gives the same tokens as tokenizing all of it (C4 sample)', async () => {
    const { readFileSync, existsSync } = await import('node:fs');
    const c4 = join(shared, 'datasets', 'calibration', 'c4_sample_1480.text.jsonl');
    if (!existsSync(c4)) return;
    const docs = readFileSync(c4, 'utf8').split('\n').filter(Boolean).slice(0, 300).map((l) => JSON.parse(l).text as string);
    const tok = calibTokenizer();
    let prefixed = 0;
    const counting = { ...tok, encode: (s: string, o?: { addSpecialTokens?: boolean }) => ((s.length < current.length && prefixed++), tok.encode(s, o)) };
    let current = '';
    const enc = new TruncatingEncoder(counting, 64);
    for (const d of docs) {
      current = d;
      const full = hfTokenizer().encode(d, { add_special_tokens: false }).ids.slice(0, 63);
      expect(enc.content(d)).toEqual(full);
    }
    expect(prefixed).toBeGreaterThan(200); // most documents went through the prefix path
  });

  it('says what is wrong with a bad file or name', async () => {
    writeFileSync(join(dir, 'x.csv'), 'a,b');
    await expect(loadCalibration(join(dir, 'x.csv'), tok(), { seqlen: SEQLEN })).rejects.toThrow(/x\.csv: unsupported type \(use \.txt, \.json, \.jsonl or \.parquet\)/);
    await expect(loadCalibration('no-such-thing', tok(), { seqlen: SEQLEN })).rejects.toThrow(/not an existing file, a registered dataset or a hub id/);
    await expect(loadCalibration('audiocaps', tok(), { seqlen: SEQLEN })).rejects.toThrow(/AudioCaps is a CSV/);
    writeFileSync(join(dir, 'short.json'), JSON.stringify(['tiny', 'texts']));
    await expect(loadCalibration(join(dir, 'short.json'), tok(), { seqlen: SEQLEN })).rejects.toThrow(/gave no sample of 64 tokens: lower --seqlen.*:concat/);
  });
});
