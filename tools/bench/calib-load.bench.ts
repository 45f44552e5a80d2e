// npm run bench -- calib-load
// Generates a 10 MB JSON Lines file of English-like text in a temp folder, then loads 128 calibration
// samples of 2048 tokens from it with loadCalibration and the stories260K tokenizer (../shared; a small
// BPE tokenizer built here when the fixture is absent), loaded as the toolkit loads it (loadTokenizer of
// @autoround/models, whose encode memoizes words: fast-bpe.ts). Baseline, measured in the same run:
// reading + JSON.parse of every line, plus the plain @huggingface/tokenizers encoder encoding as many
// tokens as the samples hold. ratio = loadCalibration time / that baseline (below 1: faster than the plain
// library encoder alone).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadCalibration, type CalibTokenizer } from '@autoround/calib-datasets';
import { loadTokenizer } from '@autoround/models';
import { xorshiftRandom as rng } from '@autoround/testing';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MB = 10;
const NSAMPLES = 128;
const SEQLEN = 2048;

const WORDS = (
  'the a and to of in was he she it they said little big day one time with for on his her had there but ' +
  'play happy friend tree house dog cat bird sun ball park mom dad saw went very wanted looked found ' +
  'together smiled ran jumped toy red blue green water flower garden sky night star moon boat fish ' +
  'learned shared kind brave careful quickly slowly under over near far away home school book story'
).split(' ');


function makeJsonl(path: string, bytes: number): number {
  const r = rng(1234);
  const lines: string[] = [];
  let size = 0;
  while (size < bytes) {
    const target = 6000 + Math.floor(r() * 24000);
    const parts: string[] = [];
    let len = 0;
    while (len < target) {
      const n = 5 + Math.floor(r() * 12);
      const w: string[] = [];
      for (let i = 0; i < n; i++) w.push(WORDS[Math.floor(r() * WORDS.length)]!);
      const s = w.join(' ');
      const sentence = s[0]!.toUpperCase() + s.slice(1) + (r() < 0.1 ? '.\n\n' : '. ');
      parts.push(sentence);
      len += sentence.length;
    }
    const line = JSON.stringify({ text: parts.join(''), meta: { id: lines.length } });
    lines.push(line);
    size += line.length + 1;
  }
  writeFileSync(path, lines.join('\n') + '\n');
  return lines.length;
}

/** A small BPE tokenizer.json (characters + frequent pairs), for when ../shared is absent. */
function buildTokenizerJson(sample: string): { json: object; config: object } {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (const ch of new Set(sample.replace(/ /g, '▁'))) vocab[ch] = Object.keys(vocab).length;
  const merges: string[] = [];
  let words = sample.replace(/ /g, ' ▁').split(' ').filter(Boolean).slice(0, 20000).map((w) => [...w]);
  for (let m = 0; m < 250; m++) {
    const counts = new Map<string, number>();
    for (const w of words) for (let i = 0; i + 1 < w.length; i++) counts.set(w[i] + ' ' + w[i + 1], (counts.get(w[i] + ' ' + w[i + 1]) ?? 0) + 1);
    let best = '';
    let bc = 0;
    for (const [k, c] of counts) if (c > bc) [best, bc] = [k, c];
    if (!best) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push(best);
    vocab[a + b] = Object.keys(vocab).length;
    words = words.map((w) => {
      const o: string[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          o.push(a + b);
          i++;
        } else o.push(w[i]!);
      }
      return o;
    });
  }
  const added = ['<unk>', '<s>', '</s>'].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return {
    json: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
      pre_tokenizer: null,
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
      },
      decoder: null,
      model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: false, vocab, merges },
    },
    config: { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true },
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'calib-bench-'));
try {
  const file = join(tmp, 'calib.jsonl');
  const docs = makeJsonl(file, MB * 1024 * 1024);
  const fixture = resolve(repoRoot, '../shared/models/stories260K');
  let tokDir: string;
  let tokName: string;
  if (existsSync(join(fixture, 'tokenizer.json'))) {
    tokDir = fixture;
    tokName = 'stories260K';
  } else {
    const b = buildTokenizerJson(JSON.parse(readFileSync(file, 'utf8').split('\n', 1)[0]!).text);
    tokDir = join(tmp, 'tokenizer');
    mkdirSync(tokDir);
    writeFileSync(join(tokDir, 'tokenizer.json'), JSON.stringify(b.json));
    writeFileSync(join(tokDir, 'tokenizer_config.json'), JSON.stringify(b.config));
    tokName = 'generated-bpe (../shared absent)';
  }
  // The plain library encoder, for the baseline.
  const t = new Tokenizer(JSON.parse(readFileSync(join(tokDir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(tokDir, 'tokenizer_config.json'), 'utf8')));
  const loaded = loadTokenizer(tokDir);
  let tokensEncoded = 0;
  const tok: CalibTokenizer = {
    encode: (s, o) => {
      const ids = loaded.encode(s, o);
      tokensEncoded += ids.length;
      return ids;
    },
    bosTokenId: loaded.bosTokenId,
    eosTokenId: loaded.eosTokenId,
  };
  console.log(
    `calib-load: ${docs} JSON Lines documents, ${MB} MB, tokenizer ${tokName} (${loaded.fastEncode ? 'word-memoizing encoder' : 'plain library encoder'}); ${NSAMPLES} samples x ${SEQLEN} tokens`,
  );

  // Baseline: read the file and JSON.parse every line.
  const b0 = performance.now();
  const raw = readFileSync(file, 'utf8');
  let n = 0;
  for (const line of raw.split('\n')) if (line) n += (JSON.parse(line) as { text: string }).text.length > 0 ? 1 : 0;
  const baseline = (performance.now() - b0) / 1000;

  // Tokenizer floor: the raw tokenizer on about as much text as the samples need (128 x 2048 tokens).
  const texts = raw.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text);
  for (let i = 0; i < 8; i++) t.encode(texts[texts.length - 1 - i]!.slice(0, 8000)); // JIT warm-up for both runs
  const f0 = performance.now();
  let floorTokens = 0;
  for (let i = 0; floorTokens < NSAMPLES * SEQLEN && i < texts.length; i++) {
    const need = NSAMPLES * SEQLEN - floorTokens;
    floorTokens += t.encode(texts[i]!.slice(0, Math.min(need, SEQLEN) * 3.6), { add_special_tokens: false }).ids.length;
  }
  const floorS = (performance.now() - f0) / 1000;
  const tokenizerFloor = (floorS * NSAMPLES * SEQLEN) / floorTokens;

  const l0 = performance.now();
  const samples = await loadCalibration(file, tok, { nsamples: NSAMPLES, seqlen: SEQLEN, seed: 42 });
  const load = (performance.now() - l0) / 1000;
  if (samples.length !== NSAMPLES || samples.some((s) => s.length !== SEQLEN)) throw new Error(`expected ${NSAMPLES} x ${SEQLEN}, got ${samples.length}`);
  const base = baseline + tokenizerFloor;
  console.log(
    `baseline: read + JSON.parse of ${n} lines ${baseline.toFixed(3)} s + raw tokenizer on ${NSAMPLES}x${SEQLEN} tokens ${tokenizerFloor.toFixed(3)} s = ${base.toFixed(3)} s; ` +
      `loadCalibration: ${load.toFixed(3)} s (${tokensEncoded} tokens encoded); target < 2 s`,
  );
  console.log(
    JSON.stringify({
      bench: 'calib-load',
      file_mb: MB,
      documents: docs,
      nsamples: NSAMPLES,
      seqlen: SEQLEN,
      tokenizer: tokName,
      load_s: +load.toFixed(3),
      baseline_parse_s: +baseline.toFixed(3),
      baseline_tokenizer_s: +tokenizerFloor.toFixed(3),
      baseline_s: +base.toFixed(3),
      tokens_encoded: tokensEncoded,
      tokens_per_s: Math.round(tokensEncoded / load),
      target_s: 2,
      within_target: load < 2,
      ratio_vs_parse: +(load / baseline).toFixed(2),
      ratio: +(load / base).toFixed(2),
    }),
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
