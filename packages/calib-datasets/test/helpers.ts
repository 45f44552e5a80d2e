import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { CalibTokenizer } from '../src/index.js';
import { HAS_SHARED, NO_SHARED_REASON, SHARED, STORIES } from '@autoround/testing';

export const shared = SHARED;
export const storiesDir = STORIES;
export const haveStories = HAS_SHARED && existsSync(join(storiesDir, 'tokenizer.json'));
export const SKIP_REASON = `the stories260K tokenizer fixture ${NO_SHARED_REASON}`;

let cached: Tokenizer | undefined;
/** @huggingface/tokenizers on the stories260K tokenizer.json, used directly for expected values. */
export function hfTokenizer(): Tokenizer {
  cached ??= new Tokenizer(JSON.parse(readFileSync(join(storiesDir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(storiesDir, 'tokenizer_config.json'), 'utf8')));
  return cached;
}

/** The minimal tokenizer interface the loader takes, over the HF tokenizer. */
export function calibTokenizer(extra: Partial<CalibTokenizer> = {}): CalibTokenizer & { calls: number } {
  const t = hfTokenizer();
  const tok = {
    calls: 0,
    encode(text: string, o?: { addSpecialTokens?: boolean }) {
      tok.calls++;
      return t.encode(text, { add_special_tokens: o?.addSpecialTokens ?? true }).ids;
    },
    bosTokenId: 1,
    eosTokenId: 2,
    ...extra,
  };
  return tok;
}

/** Expected ids for one text, straight from the tokenizer: encode with BOS, truncate to seqlen. */
export function directIds(text: string, seqlen: number): number[] {
  return hfTokenizer().encode(text).ids.slice(0, seqlen);
}

/** The original's filter, written out again for the tests. */
export function keep(ids: number[], seqlen: number): boolean {
  if (ids.length < seqlen) return false;
  const last = ids[seqlen - 1];
  return ids.slice(0, seqlen).filter((x) => x === last).length <= Math.floor(seqlen / 2);
}

export function expectedSamples(textsInOrder: string[], seqlen: number, nsamples: number): number[][] {
  return textsInOrder
    .map((t) => directIds(t.trimEnd(), seqlen))
    .filter((ids) => keep(ids, seqlen))
    .slice(0, nsamples);
}

const WORDS = 'once upon a time there was little girl named lily she loved to play outside in the park with her dog and friends one day saw big red ball'.split(' ');
/** Deterministic English-like text of `n` words. */
export function words(n: number, seed: number): string {
  let x = seed * 2654435761 >>> 0 || 1;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push(WORDS[(x >>> 0) % WORDS.length]!);
    if (i % 9 === 8) out[out.length - 1] += '.';
  }
  return out.join(' ');
}

export const asArrays = (s: Int32Array[]) => s.map((x) => Array.from(x));
