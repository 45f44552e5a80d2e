import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';
import { AutoRoundError, isAutoRoundError, type TextTokenizer } from '@autoround/core';
import { createFastEncoder } from './fast-bpe.js';

// the interface lives in core (the host asks an architecture plugin for one); re-exported for existing callers
export type { TextTokenizer } from '@autoround/core';

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new AutoRoundError('E_BAD_TOKENIZER', `${file} is not valid JSON (${(e as Error).message})`, { subject: file });
  }
}

/**
 * The tokenizer models of the decoder LMs this toolkit reads: byte-level / SentencePiece BPE and
 * Unigram. A WordPiece (BERT) or WordLevel tokenizer.json does not belong to such a model; left to
 * run, it tokenizes into ids the embedding was not trained on, and the failure surfaces far away
 * (as a calibration or evaluation-text problem), so it is refused here, naming the file.
 */
const SUPPORTED_MODELS = ['BPE', 'Unigram'];

function checkTokenizerModel(tokJson: Record<string, unknown>, file: string): void {
  const m = tokJson.model;
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw new AutoRoundError('E_BAD_TOKENIZER', `${file}: no "model" section, so no tokenizer model to load`, { subject: file });
  const type = (m as { type?: unknown }).type;
  // tokenizer.json files of older `tokenizers` versions omit the type of a BPE model
  if (type === undefined && 'merges' in m) return;
  if (typeof type !== 'string' || !SUPPORTED_MODELS.includes(type)) {
    throw new AutoRoundError(
      'E_UNSUPPORTED_TOKENIZER',
      `${file}: unsupported tokenizer: model type ${JSON.stringify(type ?? null)} (supported: ${SUPPORTED_MODELS.join(', ')}, as LLaMA-family models use; WordPiece and WordLevel belong to encoder models such as BERT)`,
      { subject: file },
    );
  }
}

/**
 * "added_tokens": a list of { id, content } entries (found by tools/fuzz: the library builds a tokenizer
 * whose added_tokens is a string, and the vocabulary size below then called .map on it).
 */
function addedTokens(v: unknown, file: string): { id: number; content: string }[] {
  if (v === undefined || v === null) return [];
  const ok = (a: unknown) => {
    const t = a as { id?: unknown; content?: unknown } | null;
    return typeof t === 'object' && t !== null && Number.isSafeInteger(t.id) && (t.id as number) >= 0 && typeof t.content === 'string';
  };
  if (!Array.isArray(v) || !v.every(ok)) {
    throw new AutoRoundError('E_BAD_TOKENIZER', `${file}: "added_tokens" must be a list of { "id": integer, "content": string } entries`, { subject: file });
  }
  return v as { id: number; content: string }[];
}

/**
 * Loads tokenizer.json (+ tokenizer_config.json) from a model folder with @huggingface/tokenizers. For
 * SentencePiece-style BPE tokenizers, encode runs on a word-memoizing encoder that gives the library's ids
 * token for token, 10–50× faster on long texts (fast-bpe.ts); other tokenizers use the library's encode.
 */
export function loadTokenizer(dir: string): TextTokenizer {
  const tj = join(dir, 'tokenizer.json');
  if (!existsSync(tj)) throw new AutoRoundError('E_NO_TOKENIZER', `${tj} is missing: a tokenizer.json is needed to tokenize text`, { subject: tj });
  const tokJson = readJson(tj);
  checkTokenizerModel(tokJson, tj);
  const added = addedTokens(tokJson.added_tokens, tj);
  const cfgFile = join(dir, 'tokenizer_config.json');
  const cfg = existsSync(cfgFile) ? readJson(cfgFile) : {};
  let tok: HFTokenizer;
  try {
    tok = new HFTokenizer(tokJson as never, cfg as never);
  } catch (e) {
    throw new AutoRoundError('E_BAD_TOKENIZER', `${tj}: cannot build the tokenizer (${(e as Error).message})`, { subject: tj });
  }
  const model = tokJson.model as { vocab?: Record<string, number> | unknown[] } | undefined;
  const vocab = model?.vocab;
  let vocabSize = Array.isArray(vocab) ? vocab.length : vocab ? Object.keys(vocab).length : 0;
  for (const a of added) vocabSize = Math.max(vocabSize, a.id + 1);
  const idOf = (key: string): number | undefined => {
    const v = cfg[key];
    const content = typeof v === 'string' ? v : v && typeof v === 'object' ? (v as { content?: string }).content : undefined;
    if (!content) return undefined;
    const a = added.find((t) => t.content === content);
    if (a) return a.id;
    if (vocab && !Array.isArray(vocab)) return (vocab as Record<string, number>)[content];
    return undefined;
  };
  // The library checks little when it builds a tokenizer: a malformed section (a post_processor whose
  // fields have the wrong type, a decoder that is not an object …) throws a bare TypeError at the first
  // encode, far from the file at fault. Encode and decode a probe text here, and name the file in any
  // later failure too (found by tools/fuzz).
  const damaged = (e: unknown): AutoRoundError =>
    isAutoRoundError(e) ? e : new AutoRoundError('E_BAD_TOKENIZER', `${tj}: the tokenizer it describes fails (${(e as Error)?.message ?? String(e)}); is the file damaged?`, { subject: tj, cause: e });
  const guard =
    <A extends unknown[], R>(f: (...a: A) => R) =>
    (...a: A): R => {
      try {
        return f(...a);
      } catch (e) {
        throw damaged(e);
      }
    };
  const fast = guard(createFastEncoder)(tok);
  const encode = guard(
    fast
      ? (text: string, options?: { addSpecialTokens?: boolean }) => fast.encode(text, options?.addSpecialTokens ?? true).map(Number)
      : (text: string, options?: { addSpecialTokens?: boolean }) => tok.encode(text, { add_special_tokens: options?.addSpecialTokens ?? true }).ids.map(Number),
  );
  const decode = guard((ids: readonly number[]) => tok.decode([...ids]));
  // a vocabulary may cover none of the probe (ids []), which the library refuses to decode
  const probe = encode('Hello world, 1 2 3.');
  if (probe.length > 0) decode(probe);
  return {
    encode,
    decode,
    bosTokenId: idOf('bos_token'),
    eosTokenId: idOf('eos_token'),
    vocabSize,
    fastEncode: fast !== undefined,
  };
}
