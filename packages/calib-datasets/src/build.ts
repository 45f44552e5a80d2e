import type { DatasetRequest, DatasetSourcePlugin, Logger } from '@autoround/core';
import { AutoRoundError } from '@autoround/core-tensor';
import type { DatasetItem } from './grammar.js';
import type { Sample } from './local.js';
import { npPermutation } from './np-random.js';
import { PyRandom } from '@autoround/core';
import { passesFilter, type CalibSource, type SourceSamples } from './sources.js';
import { TruncatingEncoder, type CalibTokenizer, type ChatMessage } from './tokenizer.js';

export interface BuildOptions {
  nsamples: number;
  seqlen: number;
  seed: number;
  log: Logger;
}

/** Orders records the way the original does for this source. */
export function shuffleSamples<T>(items: T[], how: 'python' | 'numpy' | 'none', seed: number): T[] {
  if (how === 'none') return items;
  if (how === 'python') return new PyRandom(seed).shuffle(items.slice());
  return npPermutation(items.length, seed).map((i) => items[i]!);
}

/** Renders a record as the text to tokenize: chat template when asked (with the system prompt), else text (conversations joined). */
export function renderSample(s: Sample, tok: CalibTokenizer, chat: boolean, systemPrompt: string, log: Logger, warned: { system: boolean }): string {
  if (!chat) return typeof s === 'string' ? s : s.map((m) => m.content).join('');
  const messages: ChatMessage[] = [];
  if (systemPrompt) messages.push({ role: 'system', content: systemPrompt });
  if (typeof s === 'string') messages.push({ role: 'user', content: s });
  else messages.push(...s);
  try {
    return tok.applyChatTemplate!(messages, { addGenerationPrompt: true });
  } catch (e) {
    if (!systemPrompt) throw e;
    if (!warned.system) {
      log.warn(`the chat template failed with a system message (${(e as Error).message}); retrying without it`);
      warned.system = true;
    }
    return tok.applyChatTemplate!(
      messages.filter((m) => m.role !== 'system'),
      { addGenerationPrompt: true },
    );
  }
}

/**
 * `concat`: strips a leading BOS and a trailing EOS from each tokenized document, appends the rest to a
 * rolling buffer and emits chunks of exactly seqlen, each with one BOS / EOS put back when documents
 * had them. (The original counts the stripped specials cumulatively over all documents, which makes
 * every chunk after the first shorter than seqlen so that the filter drops it; this follows the
 * documented intent instead.)
 */
export function* concatChunks(docs: Iterable<number[]>, seqlen: number, bos: number | undefined, eos: number | undefined): Generator<number[]> {
  let buf: number[] = [];
  let haveBos = false;
  let haveEos = false;
  for (let ids of docs) {
    if (ids.length && bos !== undefined && ids[0] === bos) {
      ids = ids.slice(1);
      haveBos = true;
    }
    if (ids.length && eos !== undefined && ids[ids.length - 1] === eos) {
      ids = ids.slice(0, -1);
      haveEos = true;
    }
    const os = (haveBos ? 1 : 0) + (haveEos ? 1 : 0);
    let rest = ids;
    while (buf.length + rest.length + os >= seqlen && seqlen > os) {
      const keep = seqlen - os - buf.length;
      const chunk = [...(haveBos ? [bos!] : []), ...buf, ...rest.slice(0, keep), ...(haveEos ? [eos!] : [])];
      yield chunk;
      buf = [];
      rest = rest.slice(keep);
    }
    for (const t of rest) buf.push(t);
  }
}

/** A dataset item resolved to a lazy stream of accepted samples. */
export interface PreparedDataset {
  readonly item: DatasetItem;
  /** Accepted samples (filtered, exactly seqlen long), in order; pulls (and tokenizes) lazily. */
  samples(): Iterator<number[]>;
}

export async function prepareDataset(item: DatasetItem, source: DatasetSourcePlugin, tok: CalibTokenizer, o: BuildOptions): Promise<PreparedDataset> {
  const req: DatasetRequest = { name: item.name, split: item.split?.join('+'), options: item.options };
  const src = source as CalibSource;
  const ctx = { log: o.log, seed: o.seed, seqlen: o.seqlen, count: item.num ?? o.nsamples };
  let docs: () => Iterable<number[]>;
  if (src.loadTokens) {
    const seqs = await src.loadTokens(req, ctx);
    docs = () => seqs;
  } else {
    let got: SourceSamples;
    if (src.loadSamples) got = await src.loadSamples(req, ctx);
    else got = { samples: await source.load(req, { log: o.log, seed: o.seed }), shuffle: 'python' };
    if (!Array.isArray(got.samples)) {
      throw new AutoRoundError('E_DATASET_SOURCE', `dataset source "${source.name}" returned no list of texts for ${item.name}`, { subject: item.name });
    }
    let ordered = shuffleSamples(got.samples, got.shuffle ?? 'python', o.seed);
    if (got.take !== undefined && ordered.length > got.take) ordered = ordered.slice(0, got.take);
    const chat = item.applyChatTemplate || (got.chat === 'auto' && typeof tok.applyChatTemplate === 'function');
    if (chat && typeof tok.applyChatTemplate !== 'function') {
      throw new AutoRoundError(
        'E_DATASET_CHAT',
        `--dataset ${item.raw}: apply_chat_template${item.options.system_prompt !== undefined ? ' (implied by system_prompt)' : ''} needs a tokenizer with a chat template, and this one has none`,
        { subject: '--dataset' },
      );
    }
    const enc = new TruncatingEncoder(tok, o.seqlen);
    const warned = { system: false };
    docs = function* () {
      for (const s of ordered) yield enc.encode(renderSample(s, tok, chat, item.systemPrompt, o.log, warned));
    };
  }
  const seqlen = o.seqlen;
  const concat = item.concat;
  return {
    item,
    *samples() {
      const stream = concat ? concatChunks(docs(), seqlen, tok.bosTokenId, tok.eosTokenId) : docs();
      for (const ids of stream) if (passesFilter(ids, seqlen)) yield ids.length > seqlen ? ids.slice(0, seqlen) : ids;
    },
  };
}

function take(it: Iterator<number[]>, n: number): number[][] {
  const out: number[][] = [];
  while (out.length < n) {
    const r = it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

/**
 * Combines the datasets as the original does. One dataset: its first `num` (if given) samples, capped at
 * nsamples. Several: each counted (all of it is tokenized); sorted by count (stable); `num=` datasets take
 * exactly that many; the others share what is left of nsamples evenly, smallest first, each capped at
 * its count; the result is concatenated in that order, shuffled like datasets.shuffle(seed), capped.
 * (With num= present the original divides the remainder by a count that does not shrink as it goes,
 * which does not split evenly; this splits evenly as documented.)
 */
export function combine(prepared: PreparedDataset[], o: BuildOptions): number[][] {
  const label = (p: PreparedDataset) => p.item.raw;
  if (prepared.length === 1) {
    const p = prepared[0]!;
    const want = Math.min(p.item.num ?? Infinity, o.nsamples);
    const got = take(p.samples(), want);
    if (p.item.num !== undefined && got.length < p.item.num) o.log.warn(`${label(p)}: num=${p.item.num} but only ${got.length} samples of ${o.seqlen} tokens pass the filter`);
    return got;
  }
  // Count every dataset, keeping the samples that can be selected.
  const counted = prepared.map((p) => {
    const keep = Math.max(p.item.num ?? 0, o.nsamples);
    const it = p.samples();
    const head = take(it, keep);
    let n = head.length;
    if (head.length === keep) for (let r = it.next(); !r.done; r = it.next()) n++;
    if (p.item.num !== undefined) {
      if (n < p.item.num) o.log.warn(`${label(p)}: num=${p.item.num} but only ${n} samples of ${o.seqlen} tokens pass the filter`);
      n = Math.min(n, p.item.num);
    }
    return { p, head, n };
  });
  const order = counted.map((c, i) => ({ c, i })).sort((a, b) => a.c.n - b.c.n || a.i - b.i);
  const nums = counted.filter((c) => c.p.item.num !== undefined);
  let cnt = nums.reduce((s, c) => s + c.n, 0);
  if (cnt > o.nsamples) cnt = 0;
  let freeLeft = counted.length - nums.length;
  const all: number[][] = [];
  const info: string[] = [];
  for (const { c } of order) {
    let target: number;
    if (c.p.item.num === undefined) {
      target = Math.min(Math.floor((o.nsamples - cnt) / freeLeft), c.n);
      freeLeft--;
      cnt += target;
    } else target = c.n;
    all.push(...c.head.slice(0, target));
    info.push(`${c.p.item.name}: ${target}`);
  }
  o.log.info(`calibration samples per dataset: ${info.join(', ')}`);
  const mixed = shuffleSamples(all, 'numpy', o.seed);
  return mixed.length > o.nsamples ? mixed.slice(0, o.nsamples) : mixed;
}
