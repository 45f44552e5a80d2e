// tokenizer.* metadata (docs/formats/gguf.md#tokenizer-keys) from tokenizer.json / tokenizer_config.json:
// SentencePiece-style `llama` vocabularies (BPE with byte fallback, or Unigram) with scores and
// token types, and byte-level BPE `gpt2` vocabularies with merges.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoRoundError } from '@autoround/core-tensor';
import type { HFConfig } from '@autoround/core';
import type { GgufMetadata } from './gguf/metadata.js';
import type { GgufArch } from './tensor-map.js';

/** tokenizer.ggml.token_type values. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

interface TokenizerJson {
  model?: {
    type?: string;
    vocab?: Record<string, number> | [string, number][];
    merges?: (string | [string, string])[];
    byte_fallback?: boolean;
    unk_id?: number | null;
    unk_token?: string | null;
  };
  added_tokens?: AddedToken[];
  normalizer?: unknown;
  pre_tokenizer?: unknown;
  post_processor?: unknown;
}

export interface VocabInfo {
  readonly model: 'llama' | 'gpt2';
  readonly pre: string;
  readonly tokens: string[];
  readonly scores?: Float32Array;
  readonly tokenTypes: Int32Array;
  readonly merges?: string[];
}

function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new AutoRoundError('E_BAD_TOKENIZER', `${path}: not valid JSON (${(e as Error).message})`, { subject: path });
  }
}

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;

/** Finds a node of a given "type" anywhere in a tokenizers pipeline description. */
function findNodes(node: unknown, type: string, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(node)) for (const n of node) findNodes(n, type, out);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o.type === type) out.push(o);
    for (const v of Object.values(o)) if (v && typeof v === 'object') findNodes(v, type, out);
  }
  return out;
}

/** tokenizer.ggml.pre for byte-level BPE, from the pre-tokenizer's split pattern and the model type. */
function bpePre(tj: TokenizerJson, arch: GgufArch, config: HFConfig): string {
  const splits = findNodes(tj.pre_tokenizer, 'Split');
  const pattern = splits.map((s) => JSON.stringify((s.pattern as Record<string, unknown> | undefined)?.Regex ?? '')).join(' ');
  if (arch === 'qwen2' || arch === 'qwen3' || String(config.model_type).startsWith('qwen')) return 'qwen2';
  if (pattern.includes('\\\\p{N}{1,3}')) return 'llama-bpe';
  const digits = findNodes(tj.pre_tokenizer, 'Digits');
  if (digits.some((d) => d.individual_digits === true) && findNodes(tj.pre_tokenizer, 'ByteLevel').length > 0) return 'smollm';
  return 'default';
}

/** Whether the SPM normalizer/pre-tokenizer puts "▁" before the text (add_space_prefix). */
function spmAddsSpacePrefix(tj: TokenizerJson): boolean {
  if (findNodes(tj.normalizer, 'Prepend').some((p) => p.prepend === '\u2581')) return true;
  const ms = findNodes(tj.pre_tokenizer, 'Metaspace');
  if (ms.length > 0) {
    const m = ms[0]!;
    if (m.prepend_scheme === 'never' || m.add_prefix_space === false) return false;
    return true;
  }
  return false;
}

/** The vocabulary with types (and SPM scores) as llama.cpp wants it, padded to nVocab. */
export function buildVocab(tj: TokenizerJson, arch: GgufArch, config: HFConfig, nVocab: number, source: string): VocabInfo {
  const m = tj.model;
  if (!m || typeof m !== 'object') throw new AutoRoundError('E_BAD_TOKENIZER', `${source}: no "model" section`, { subject: source });
  const added = tj.added_tokens ?? [];
  const byId = new Map<number, string>();
  let spmScores: Map<number, number> | null = null;
  let kind: 'llama' | 'gpt2';
  let unkId = -1;
  if (m.type === 'BPE') {
    if (!m.vocab || Array.isArray(m.vocab)) throw new AutoRoundError('E_BAD_TOKENIZER', `${source}: BPE model without a vocab object`, { subject: source });
    for (const [tok, id] of Object.entries(m.vocab)) byId.set(id, tok);
    kind = m.byte_fallback ? 'llama' : 'gpt2';
    if (m.unk_token && m.vocab[m.unk_token] !== undefined) unkId = m.vocab[m.unk_token]!;
  } else if (m.type === 'Unigram') {
    if (!Array.isArray(m.vocab)) throw new AutoRoundError('E_BAD_TOKENIZER', `${source}: Unigram model without a vocab list`, { subject: source });
    spmScores = new Map();
    m.vocab.forEach(([tok, score], id) => {
      byId.set(id, tok);
      spmScores!.set(id, score);
    });
    kind = 'llama';
    if (typeof m.unk_id === 'number') unkId = m.unk_id;
  } else {
    throw new AutoRoundError('E_BAD_TOKENIZER', `${source}: tokenizer model type ${JSON.stringify(m.type)} cannot be written to GGUF (BPE and Unigram can)`, { subject: source });
  }
  const special = new Set<number>();
  const userDefined = new Set<number>();
  for (const a of added) {
    byId.set(a.id, a.content);
    if (a.special) special.add(a.id);
    else userDefined.add(a.id);
  }
  // a loop, not Math.max(...ids): a spread of Qwen2's 151,936 ids overflows the call stack
  let maxId = -1;
  for (const id of byId.keys()) if (id > maxId) maxId = id;
  if (maxId + 1 > nVocab) {
    throw new AutoRoundError('E_BAD_TOKENIZER', `${source}: the tokenizer has ${maxId + 1} tokens but the model's embedding has only ${nVocab} rows`, { subject: source });
  }
  const tokens: string[] = new Array(nVocab);
  const types = new Int32Array(nVocab);
  for (let id = 0; id < nVocab; id++) {
    const t = byId.get(id);
    if (t === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TokenType.UNUSED;
      continue;
    }
    tokens[id] = t;
    if (id === unkId) types[id] = TokenType.UNKNOWN;
    else if (special.has(id)) types[id] = TokenType.CONTROL;
    else if (userDefined.has(id)) types[id] = TokenType.USER_DEFINED;
    else if (kind === 'llama' && BYTE_TOKEN.test(t)) types[id] = TokenType.BYTE;
    else types[id] = TokenType.NORMAL;
  }
  if (kind === 'gpt2') {
    const merges = (m.merges ?? []).map((x) => (Array.isArray(x) ? `${x[0]} ${x[1]}` : x));
    if (merges.length === 0) throw new AutoRoundError('E_BAD_TOKENIZER', `${source}: byte-level BPE without merges (llama.cpp requires tokenizer.ggml.merges)`, { subject: source });
    return { model: 'gpt2', pre: bpePre(tj, arch, config), tokens, tokenTypes: types, merges };
  }
  return { model: 'llama', pre: 'default', tokens, tokenTypes: types, scores: spmScores ? spmScoreArray(spmScores, nVocab) : bpeMergeScores(m.merges ?? [], tokens, types) };
}

function spmScoreArray(s: Map<number, number>, n: number): Float32Array {
  const out = new Float32Array(n);
  for (const [id, v] of s) if (id < n) out[id] = v;
  return out;
}

/**
 * SentencePiece scores for a BPE-with-byte-fallback tokenizer.json: llama.cpp's SPM tokenizer
 * merges the adjacent pair whose concatenation has the highest score, so each piece gets
 * −(rank of the first merge producing it), which reproduces the merge order. Pieces no merge
 * produces (single characters) rank after all merges; control and byte tokens score 0.
 */
function bpeMergeScores(merges: (string | [string, string])[], tokens: string[], types: Int32Array): Float32Array {
  const firstRank = new Map<string, number>();
  merges.forEach((mg, rank) => {
    const [a, b] = Array.isArray(mg) ? mg : splitMerge(mg);
    const t = a + b;
    if (!firstRank.has(t)) firstRank.set(t, rank);
  });
  const scores = new Float32Array(tokens.length);
  for (let id = 0; id < tokens.length; id++) {
    if (types[id] !== TokenType.NORMAL && types[id] !== TokenType.USER_DEFINED) continue;
    const r = firstRank.get(tokens[id]!);
    scores[id] = r !== undefined ? -r : -(merges.length + id);
  }
  return scores;
}

function splitMerge(s: string): [string, string] {
  const i = s.indexOf(' ', 1);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

interface TokenizerConfig {
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  unk_token?: string | { content: string } | null;
  pad_token?: string | { content: string } | null;
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  chat_template?: string | { name: string; template: string }[];
}

function tokenText(t: TokenizerConfig['bos_token']): string | null {
  if (t == null) return null;
  return typeof t === 'string' ? t : t.content ?? null;
}

/** add_bos/add_eos from a TemplateProcessing post-processor, when tokenizer_config.json does not say. */
function postProcessorAdds(tj: TokenizerJson, bos: string | null, eos: string | null): { bos?: boolean; eos?: boolean } {
  const tp = findNodes(tj.post_processor, 'TemplateProcessing')[0];
  if (!tp || !Array.isArray(tp.single)) return {};
  const ids = (tp.single as Record<string, { id?: string }>[]).map((p) => p.SpecialToken?.id ?? null);
  return { bos: bos !== null && ids[0] === bos, eos: eos !== null && ids[ids.length - 1] === eos };
}

/** Writes every tokenizer.* key for the model folder `dir`. nVocab = rows of the embedding. */
export function writeTokenizerMetadata(md: GgufMetadata, dir: string, arch: GgufArch, config: HFConfig, nVocab: number): VocabInfo {
  const tjPath = join(dir, 'tokenizer.json');
  if (!existsSync(tjPath)) {
    throw new AutoRoundError('E_NO_TOKENIZER', `${dir}: no tokenizer.json (the GGUF exporter needs the Hugging Face fast-tokenizer file)`, { subject: tjPath });
  }
  const tj = readJson<TokenizerJson>(tjPath);
  const tcPath = join(dir, 'tokenizer_config.json');
  const tc: TokenizerConfig = existsSync(tcPath) ? readJson<TokenizerConfig>(tcPath) : {};
  const v = buildVocab(tj, arch, config, nVocab, tjPath);

  md.str('tokenizer.ggml.model', v.model);
  md.str('tokenizer.ggml.pre', v.pre);
  md.strings('tokenizer.ggml.tokens', v.tokens);
  if (v.scores) md.f32s('tokenizer.ggml.scores', v.scores);
  md.i32s('tokenizer.ggml.token_type', v.tokenTypes);
  if (v.merges) md.strings('tokenizer.ggml.merges', v.merges);

  const idOf = new Map<string, number>();
  v.tokens.forEach((t, i) => {
    if (!idOf.has(t)) idOf.set(t, i);
  });
  const cfgId = (k: string): number | undefined => {
    const x = config[k];
    const n = Array.isArray(x) ? x[0] : x;
    return typeof n === 'number' && n >= 0 && n < nVocab ? n : undefined;
  };
  const special = (key: 'bos' | 'eos' | 'unk' | 'pad'): number | undefined => {
    const text = tokenText(tc[`${key}_token`]);
    if (text !== null && idOf.has(text)) return idOf.get(text);
    return cfgId(`${key}_token_id`);
  };
  const ids = { bos: special('bos'), eos: special('eos'), unk: special('unk'), pad: special('pad') };
  if (ids.bos !== undefined) md.u32('tokenizer.ggml.bos_token_id', ids.bos);
  if (ids.eos !== undefined) md.u32('tokenizer.ggml.eos_token_id', ids.eos);
  if (ids.unk !== undefined) md.u32('tokenizer.ggml.unknown_token_id', ids.unk);
  if (ids.pad !== undefined) md.u32('tokenizer.ggml.padding_token_id', ids.pad);

  const pp = postProcessorAdds(tj, tokenText(tc.bos_token), tokenText(tc.eos_token));
  const addBos = typeof tc.add_bos_token === 'boolean' ? tc.add_bos_token : pp.bos ?? v.model === 'llama';
  const addEos = typeof tc.add_eos_token === 'boolean' ? tc.add_eos_token : pp.eos ?? false;
  md.bool('tokenizer.ggml.add_bos_token', addBos);
  md.bool('tokenizer.ggml.add_eos_token', addEos);
  if (v.model === 'llama') md.bool('tokenizer.ggml.add_space_prefix', spmAddsSpacePrefix(tj));

  const template = chatTemplate(dir, tc);
  if (template) md.str('tokenizer.chat_template', template);
  return v;
}

function chatTemplate(dir: string, tc: TokenizerConfig): string | null {
  const t = tc.chat_template;
  if (typeof t === 'string' && t.length > 0) return t;
  if (Array.isArray(t) && t.length > 0) return (t.find((x) => x.name === 'default') ?? t[0]!).template;
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return readFileSync(jinja, 'utf8');
  const js = join(dir, 'chat_template.json');
  if (existsSync(js)) {
    const j = readJson<{ chat_template?: string }>(js);
    if (typeof j.chat_template === 'string') return j.chat_template;
  }
  return null;
}
