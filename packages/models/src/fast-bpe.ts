import { BPE, Tokenizer as HFTokenizer } from '@huggingface/tokenizers';

/**
 * A faster `encode` for SentencePiece-style BPE tokenizers (Llama, stories260K …), giving exactly the ids of
 * `@huggingface/tokenizers`' own `Tokenizer.encode`.
 *
 * Why it is needed: such tokenizers have no pre-tokenizer, so the library runs its BPE on a whole document as
 * one word (a heap of every character, a JSON.stringify per pair lookup) and never hits its word cache:
 * 70–160k tokens/s. Here the normalized text is cut into words at the places no merge can cross, and each
 * word's ids are memoized; a word not seen yet is tokenized by the library's own model, so the ids are the
 * library's.
 *
 * The cut: before every `▁` (U+2581) that follows a character other than `▁` (runs of `▁` stay with the word
 * they precede). A merge could only join the two sides if some merge (a, b) had `a` ending in a character
 * other than `▁` and `b` starting with `▁`; the constructor checks the merges and refuses the tokenizer when
 * one does. BPE merges inside a word then never depend on other words: the library's heap pops pairs by
 * (rank, position), and restricted to one word that is the order the word alone gets. Everything around the
 * model (added-token splitting, normalizer, pre-tokenizer, unknown-token fusing, post-processor, id lookup)
 * reproduces the library's `encode_text` / `tokenize_helper` / `encode` step by step, calling the library's
 * own pieces.
 *
 * This reads internals of @huggingface/tokenizers 0.2 (model, splitters, added_tokens_map …). The constructor
 * checks each of them and a few probe strings against the library, and `createFastEncoder` returns undefined
 * (callers keep the plain encoder) when anything differs or the tokenizer is of another kind.
 */

const MARK = '\u2581';
const MARK_CODE = 0x2581;
/** Words longer than this are tokenized each time (the library does not cache them either). */
const MAX_CACHED_WORD = 128;
/** The word cache is emptied when it grows past this many words. */
const CACHE_LIMIT = 1 << 18;

type Id = number | undefined;

interface AddedTokenLike {
  content: string;
  id: number;
  lstrip: boolean;
  rstrip: boolean;
}

interface SplitterLike {
  split(text: string): string[];
}

interface BpeLike {
  (tokens: string[]): string[];
  encode(tokens: string[]): string[];
  tokens_to_ids: Map<string, number>;
  unk_token_id: number | undefined;
  fuse_unk: boolean;
  bpe_ranks: Map<string, number>;
  end_of_word_suffix?: string | null;
  continuing_subword_suffix?: string | null;
  ignore_merges?: boolean;
}

/** The parts of @huggingface/tokenizers' Tokenizer this reads. */
interface TokenizerInternals {
  model: BpeLike;
  normalizer: ((text: string) => string) | null;
  pre_tokenizer: ((text: string, options: { section_index: number }) => string[]) | null;
  post_processor: ((tokens: string[], pair: null, addSpecialTokens: boolean) => { tokens: string[] }) | null;
  added_tokens: AddedTokenLike[];
  added_tokens_map: Map<string, AddedTokenLike>;
  splitter_unnormalized: SplitterLike;
  splitter_normalized: SplitterLike;
  remove_space?: boolean;
  do_lowercase_and_remove_accent?: boolean;
  encode_text: unknown;
  tokenize_helper: unknown;
}

interface Word {
  ids: Id[];
  /** The model's tokens (before ids), kept for unknown-token fusing. */
  tokens: string[];
  /** Some token counts as unknown for fuse_unk. */
  unk: boolean;
}

/** Why `createFastEncoder` refused a tokenizer, or undefined when it accepted it. */
export function fastEncoderUnsupported(tok: HFTokenizer): string | undefined {
  const t = tok as unknown as TokenizerInternals;
  if (Object.getPrototypeOf(tok) !== HFTokenizer.prototype) return 'not the library Tokenizer class';
  const m = t.model;
  if (!m || Object.getPrototypeOf(m) !== BPE.prototype) return 'model is not BPE';
  if (!(m.bpe_ranks instanceof Map) || !(m.tokens_to_ids instanceof Map) || typeof m.encode !== 'function') return 'unexpected BPE internals';
  if (m.end_of_word_suffix || m.continuing_subword_suffix) return 'BPE with word suffixes';
  if (m.ignore_merges) return 'BPE with ignore_merges';
  if (t.do_lowercase_and_remove_accent) return 'do_lowercase_and_remove_accent';
  if (!(t.added_tokens_map instanceof Map) || !Array.isArray(t.added_tokens)) return 'unexpected added-token internals';
  if (typeof t.splitter_unnormalized?.split !== 'function' || typeof t.splitter_normalized?.split !== 'function') return 'unexpected splitter internals';
  if (typeof t.encode_text !== 'function' || typeof t.tokenize_helper !== 'function') return 'unexpected Tokenizer internals';
  for (const key of m.bpe_ranks.keys()) {
    let pair: unknown;
    try {
      pair = JSON.parse(key);
    } catch {
      return 'unexpected merge key';
    }
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return 'unexpected merge key';
    const [a, b] = pair as [string, string];
    if (b.startsWith(MARK) && !a.endsWith(MARK)) return `merge "${a} ${b}" joins a word to the next one`;
  }
  return undefined;
}

/**
 * The fast encoder for `tok` (see the file comment), or undefined when the tokenizer is not one it can
 * prove exact for. `encode` returns what `tok.encode(text, { add_special_tokens }).ids` returns.
 */
export function createFastEncoder(tok: HFTokenizer): FastBpeEncoder | undefined {
  if (fastEncoderUnsupported(tok) !== undefined) return undefined;
  let enc: FastBpeEncoder;
  try {
    enc = new FastBpeEncoder(tok);
  } catch {
    return undefined;
  }
  return enc.selfCheck() ? enc : undefined;
}

/** Texts compared with the library before the fast encoder is used. */
const PROBES = [
  '',
  ' ',
  'Hello world',
  '  Once upon a time,  there was\n\na little  dog.\n',
  'naïve café — 東京 😀👍🏽 \u{1F600}x\ty',
  'a<s>b </s> <unk>c<s>',
  '▁▁a ▁b▁ c▁',
  'tail   ',
];

export class FastBpeEncoder {
  private readonly t: TokenizerInternals;
  private readonly m: BpeLike;
  private readonly words = new Map<string, Word>();
  /** Special-token ids the post-processor puts before / after the content, per add_special_tokens. */
  private readonly around: { true: [Id[], Id[]]; false: [Id[], Id[]] };
  private readonly unnormalizedAdded: string[];
  private readonly normalizedAdded: string[];

  constructor(private readonly lib: HFTokenizer) {
    this.t = lib as unknown as TokenizerInternals;
    this.m = this.t.model;
    const unnormalized: string[] = [];
    const normalized: string[] = [];
    // The same lists the library's constructor builds its two splitters from.
    for (const a of this.t.added_tokens as (AddedTokenLike & { normalized?: boolean })[]) {
      if (a.normalized && this.t.normalizer !== null) normalized.push(this.t.normalizer(a.content));
      else unnormalized.push(a.content);
    }
    if (unnormalized.some((s) => s.length === 0) || normalized.some((s) => s.length === 0)) throw new Error('empty added token');
    this.unnormalizedAdded = unnormalized;
    this.normalizedAdded = normalized;
    this.around = { true: this.probeAround(true), false: this.probeAround(false) };
  }

  /** prefix/suffix of the post-processor, checked to be independent of the content. */
  private probeAround(add: boolean): [Id[], Id[]] {
    const pp = this.t.post_processor;
    const run = (toks: string[]): string[] => (pp ? pp(toks, null, add).tokens : toks);
    const x = '\uE000fast-bpe-probe-x';
    const y = '\uE000fast-bpe-probe-y';
    const one = run([x]);
    const at = one.indexOf(x);
    if (at < 0 || one.lastIndexOf(x) !== at) throw new Error('post-processor');
    const pre = one.slice(0, at);
    const post = one.slice(at + 1);
    const same = (a: string[], b: string[]) => a.length === b.length && a.every((v, i) => v === b[i]);
    if (!same(run([]), [...pre, ...post]) || !same(run([x, y]), [...pre, x, y, ...post])) throw new Error('post-processor');
    return [pre.map((s) => this.idOf(s)), post.map((s) => this.idOf(s))];
  }

  /** The library's token → id lookup (Tokenizer.encode). */
  private idOf(token: string): Id {
    return this.t.added_tokens_map.get(token)?.id ?? this.m.tokens_to_ids.get(token) ?? this.m.unk_token_id;
  }

  /** Compares a few texts with the library; false when anything differs. */
  selfCheck(): boolean {
    try {
      for (const text of PROBES) {
        for (const add of [true, false]) {
          const want = this.lib.encode(text, { add_special_tokens: add }).ids;
          const got = this.encode(text, add);
          if (want.length !== got.length || want.some((v, i) => v !== got[i])) return false;
        }
      }
    } catch {
      return false;
    }
    this.words.clear();
    return true;
  }

  /** Same as the library's `encode(text, { add_special_tokens }).ids`. */
  encode(text: string, addSpecialTokens = true): Id[] {
    if (typeof text !== 'string') return this.lib.encode(text, { add_special_tokens: addSpecialTokens }).ids;
    const [pre, post] = this.around[addSpecialTokens ? 'true' : 'false'];
    const out: Id[] = pre.slice();
    this.encodeText(text, out);
    for (const id of post) out.push(id);
    return out;
  }

  /** The library's encode_text, with the model step replaced by `model`. */
  private encodeText(text: string, out: Id[]): void {
    const t = this.t;
    const sections = this.contains(text, this.unnormalizedAdded) ? t.splitter_unnormalized.split(text) : text.length ? [text] : [];
    this.stripAround(sections);
    for (let sectionIndex = 0; sectionIndex < sections.length; sectionIndex++) {
      let processed = sections[sectionIndex]!;
      if (processed.length === 0) continue;
      if (t.added_tokens_map.has(processed)) {
        out.push(this.idOf(processed));
        continue;
      }
      if (t.remove_space === true) processed = processed.trim().split(/\s+/).join(' ');
      if (t.normalizer !== null) processed = t.normalizer(processed);
      if (processed.length === 0) continue;
      const subsections = this.contains(processed, this.normalizedAdded) ? t.splitter_normalized.split(processed) : [processed];
      this.stripAround(subsections);
      for (const sub of subsections) {
        if (sub.length === 0) continue;
        if (t.added_tokens_map.has(sub)) {
          out.push(this.idOf(sub));
          continue;
        }
        const pretokens = t.pre_tokenizer !== null ? t.pre_tokenizer(sub, { section_index: sectionIndex }) : [sub];
        this.model(pretokens, out);
      }
    }
  }

  private contains(text: string, words: string[]): boolean {
    for (const w of words) if (text.includes(w)) return true;
    return false;
  }

  /** The lstrip / rstrip of added tokens, as the library applies them to its sections. */
  private stripAround(parts: string[]): void {
    for (let i = 0; i < parts.length; i++) {
      const added = this.t.added_tokens_map.get(parts[i]!);
      if (!added) continue;
      if (added.lstrip && i > 0) parts[i - 1] = parts[i - 1]!.trimEnd();
      if (added.rstrip && i < parts.length - 1) parts[i + 1] = parts[i + 1]!.trimStart();
    }
  }

  /** The model step (BPE, then fuse_unk) of the library, word by word, appending ids to `out`. */
  private model(pretokens: string[], out: Id[]): void {
    const start = out.length;
    let unk = false;
    const used: Word[] | undefined = this.m.fuse_unk ? [] : undefined;
    for (const pt of pretokens) {
      let from = 0;
      for (let i = pt.indexOf(MARK, 1); i > 0; i = pt.indexOf(MARK, i + 1)) {
        if (pt.charCodeAt(i - 1) === MARK_CODE) continue;
        const w = this.word(pt.slice(from, i));
        for (const id of w.ids) out.push(id);
        if (w.unk) unk = true;
        used?.push(w);
        from = i;
      }
      const w = this.word(from === 0 ? pt : pt.slice(from));
      for (const id of w.ids) out.push(id);
      if (w.unk) unk = true;
      used?.push(w);
    }
    if (unk && used) {
      // Rare (unknown characters without byte fallback): fuse over the whole sequence, as the library does.
      out.length = start;
      const tokens: string[] = [];
      for (const w of used) for (const s of w.tokens) tokens.push(s);
      for (const s of fuseUnk(tokens, this.m.tokens_to_ids, this.m.unk_token_id)) out.push(this.idOf(s));
    }
  }

  private word(piece: string): Word {
    const hit = this.words.get(piece);
    if (hit !== undefined) return hit;
    const cache = piece.length <= MAX_CACHED_WORD;
    // A flat copy, so that the cache does not keep the whole document a slice points into.
    const key = cache && piece.length > 12 ? (' ' + piece).slice(1) : piece;
    const tokens = piece.length === 0 ? [] : this.m.encode([key]);
    const unkId = this.m.unk_token_id;
    const w: Word = {
      ids: tokens.map((s) => this.idOf(s)),
      tokens,
      unk: tokens.some((s) => (this.m.tokens_to_ids.get(s) ?? unkId) === unkId),
    };
    if (cache) {
      if (this.words.size >= CACHE_LIMIT) this.words.clear();
      this.words.set(key, w);
    }
    return w;
  }
}

/** @huggingface/tokenizers' fuse_unk (utils/core), step for step. */
function fuseUnk(arr: string[], tokensToIds: Map<string, number>, unkId: number | undefined): string[] {
  const fused: string[] = [];
  let i = 0;
  while (i < arr.length) {
    fused.push(arr[i]!);
    const id = tokensToIds.get(arr[i]!) ?? unkId;
    if (id !== unkId) {
      ++i;
      continue;
    }
    while (++i < arr.length && (tokensToIds.get(arr[i]!) ?? unkId) === unkId) {
      if (tokensToIds.get(fused[fused.length - 1]!) !== unkId) fused[fused.length - 1] += arr[i]!;
    }
  }
  return fused;
}
