import type { Sample } from './local.js';
import { isConversation } from './local.js';

/** A dataset the original AutoRound registers by name, with how its rows become calibration text. */
export interface KnownDataset {
  /** Registry keys, in the original's order (full id first). */
  readonly keys: readonly string[];
  /** The Hugging Face dataset repository read. */
  readonly repo: string;
  readonly defaultSplit: readonly string[];
  /** Splits accepted (others are an error), when the original restricts them. */
  readonly splits?: readonly string[];
  /** The split is fixed whatever split= says (the original ignores it). */
  readonly fixedSplit?: boolean;
  /** Columns read from the Parquet files. */
  readonly columns: readonly string[];
  text(row: Record<string, unknown>): Sample | undefined;
  /** datasets' Dataset.shuffle(seed) ('numpy') or random.Random(seed).shuffle ('python'). */
  readonly shuffle: 'numpy' | 'python';
  /** The original keeps only this many rows after shuffling (streaming `.take(n)`). */
  readonly take?: number;
  /** Only the first N data files are read (the original streams, or samples a few shards). */
  readonly maxFiles?: number;
  /** Apply the chat template when the tokenizer has one. */
  readonly chat?: 'auto';
  /** Why the order differs from the original, if it does. */
  readonly note?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export const KNOWN_DATASETS: readonly KnownDataset[] = [
  { keys: ['NeelNanda/pile-10k', 'pile-10k'], repo: 'NeelNanda/pile-10k', defaultSplit: ['train'], fixedSplit: true, columns: ['text'], text: (r) => str(r.text), shuffle: 'numpy' },
  {
    keys: ['swift/pile-val-backup', 'pile-val-backup'],
    repo: 'mit-han-lab/pile-val-backup',
    defaultSplit: ['validation'],
    fixedSplit: true,
    columns: ['text'],
    text: (r) => str(r.text),
    shuffle: 'numpy',
    take: 10000,
    note: 'the original reads the ModelScope copy as a stream; this reads the same data from the Hugging Face Hub',
  },
  { keys: ['BAAI/CCI3-HQ', 'CCI3-HQ'], repo: 'BAAI/CCI3-HQ', defaultSplit: ['train'], fixedSplit: true, columns: ['text'], text: (r) => str(r.text), shuffle: 'numpy', take: 10000, maxFiles: 1, note: 'the original shuffles a stream' },
  {
    keys: ['codeparrot/github-code-clean', 'github-code-clean'],
    repo: 'codeparrot/github-code-clean',
    defaultSplit: ['train'],
    fixedSplit: true,
    columns: ['code'],
    text: (r) => str(r.code),
    shuffle: 'numpy',
    take: 10000,
    maxFiles: 1,
    note: 'the original samples shards with random.sample',
  },
  {
    keys: ['HuggingFaceH4/ultrachat_200k', 'ultrachat_200k'],
    repo: 'HuggingFaceH4/ultrachat_200k',
    defaultSplit: ['train_sft'],
    splits: ['train_sft', 'test_sft', 'train_gen', 'test_gen'],
    columns: ['messages'],
    text: (r) => (isConversation(r.messages) ? r.messages : undefined),
    shuffle: 'numpy',
    take: 20000,
    chat: 'auto',
    note: 'the original shuffles a stream',
  },
  {
    keys: ['openbmb/Ultra-FineWeb'],
    repo: 'openbmb/Ultra-FineWeb',
    defaultSplit: ['en'],
    splits: ['en', 'zh'],
    columns: ['content'],
    text: (r) => str(r.content),
    shuffle: 'numpy',
    take: 20000,
    maxFiles: 1,
    note: 'the original shuffles a stream',
  },
  { keys: ['madao33/new-title-chinese', 'new-title-chinese'], repo: 'madao33/new-title-chinese', defaultSplit: ['train'], fixedSplit: true, columns: ['content'], text: (r) => str(r.content), shuffle: 'numpy' },
  {
    keys: ['mbpp', 'google-research-datasets/mbpp'],
    repo: 'google-research-datasets/mbpp',
    defaultSplit: ['train', 'validation', 'test'],
    columns: ['text', 'code'],
    text: (r) => (typeof r.text === 'string' && typeof r.code === 'string' ? r.text + r.code : undefined),
    shuffle: 'python',
  },
  {
    keys: ['nvidia/OpenCodeInstruct', 'opencode-instruct'],
    repo: 'nvidia/OpenCodeInstruct',
    defaultSplit: ['train'],
    fixedSplit: true,
    columns: ['input', 'output'],
    text: (r) => (typeof r.input === 'string' && typeof r.output === 'string' ? `${r.input}\n${r.output}` : undefined),
    shuffle: 'numpy',
    take: 2000,
    maxFiles: 1,
    note: 'the original samples 4 shards and packs short samples with padding; this reads the first shard and uses :concat-free filtering',
  },
];

/** Names the original registers that cannot be read here, with why. */
export const UNSUPPORTED_DATASETS: Readonly<Record<string, string>> = {
  audiocaps: 'AudioCaps is a CSV downloaded from GitHub, not a hub dataset; convert its captions to a .jsonl file and pass that',
  AudioCaps: 'AudioCaps is a CSV downloaded from GitHub, not a hub dataset; convert its captions to a .jsonl file and pass that',
};

/**
 * The original's name lookup: an exact registry key; else, for a name without an organisation, the
 * first key that contains it ("pile-10k" → NeelNanda/pile-10k). A name with an organisation that is
 * not a key is a hub dataset of its own (the original would substring-match its last part, so that
 * "me/code" would silently become github-code-clean).
 */
export function lookupKnown(name: string): KnownDataset | undefined {
  for (const d of KNOWN_DATASETS) if (d.keys.includes(name)) return d;
  if (name.includes('/')) return undefined;
  for (const d of KNOWN_DATASETS) if (d.keys.some((k) => k.includes(name))) return d;
  return undefined;
}
