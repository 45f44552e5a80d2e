/** A chat message, as chat templates take them. */
export interface ChatMessage {
  role: string;
  content: string;
}

/**
 * What the loader needs from a tokenizer. `encode` adds the special tokens the tokenizer's
 * post-processor adds (BOS, EOS…) unless `addSpecialTokens` is false, like Hugging Face tokenizers.
 */
export interface CalibTokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  bosTokenId?: number;
  eosTokenId?: number;
  /** Renders messages with the model's chat template (as text, not tokens). */
  applyChatTemplate?(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
}

/**
 * `tokenizer(text, truncation=True, max_length=seqlen)` as transformers does it: the content is cut so
 * that content plus the special tokens the tokenizer adds fit in `seqlen` (so a tokenizer that appends
 * EOS still ends with EOS).
 *
 * Long texts are not tokenized whole: a prefix sized from the characters-per-token seen so far (cut at
 * whitespace) is tokenized first, and used when it gives at least 64 tokens more than needed (tokens that
 * far before the cut do not depend on what follows it); otherwise a longer prefix, up to the whole text.
 */
export class TruncatingEncoder {
  /** Special tokens the tokenizer puts before / after the content. */
  readonly prefix: number[] = [];
  readonly suffix: number[] = [];
  /** 'split': specials known, content tokenized alone; 'opaque': specials could not be told apart. */
  private readonly mode: 'split' | 'opaque';
  private readonly room: number;

  constructor(
    private readonly tok: CalibTokenizer,
    readonly seqlen: number,
  ) {
    const full = tok.encode('a', { addSpecialTokens: true });
    const bare = tok.encode('a', { addSpecialTokens: false });
    const at = bare.length > 0 ? indexOfSeq(full, bare) : -1;
    if (at >= 0) {
      this.prefix = full.slice(0, at);
      this.suffix = full.slice(at + bare.length);
      this.mode = 'split';
    } else {
      this.mode = 'opaque';
    }
    this.room = Math.max(0, seqlen - this.prefix.length - this.suffix.length);
  }

  /** Running estimate of characters per token, to size the prefix tokenized first. */
  private charsPerToken = 4;

  /** Content tokens (no special tokens), at most `limit`, exactly as tokenizing the whole text would start. */
  content(text: string, limit = this.room): number[] {
    const margin = 64;
    const want = limit + margin;
    let cut = Math.ceil(want * this.charsPerToken * 1.1) + 64;
    while (cut < text.length) {
      let end = cut;
      const w = Math.max(text.lastIndexOf(' ', cut), text.lastIndexOf('\n', cut));
      if (w > cut - 256) end = w;
      const code = text.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end--;
      const part = this.tok.encode(text.slice(0, end), { addSpecialTokens: false });
      if (part.length > 0) this.charsPerToken = 0.8 * this.charsPerToken + 0.2 * (end / part.length);
      if (part.length >= want) return part.slice(0, limit);
      // Too short: grow the prefix to what the observed ratio says, at least doubling.
      cut = Math.max(cut * 2, Math.ceil((want * end) / Math.max(part.length, 1) * 1.2));
    }
    const all = this.tok.encode(text, { addSpecialTokens: false });
    if (all.length > 0) this.charsPerToken = 0.8 * this.charsPerToken + 0.2 * (text.length / all.length);
    return all.length > limit ? all.slice(0, limit) : all;
  }

  /** The ids transformers gives for `tokenizer(text, truncation=True, max_length=seqlen)`. */
  encode(text: string): number[] {
    if (this.mode === 'opaque') {
      const ids = this.tok.encode(text, { addSpecialTokens: true });
      return ids.length > this.seqlen ? ids.slice(0, this.seqlen) : ids;
    }
    const c = this.content(text);
    return this.prefix.length || this.suffix.length ? [...this.prefix, ...c, ...this.suffix] : c;
  }
}

function indexOfSeq(hay: number[], needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
