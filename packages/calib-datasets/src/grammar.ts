import { AutoRoundError } from '@autoround/core-tensor';

export const DEFAULT_DATASET = 'NeelNanda/pile-10k';
export const DEFAULT_SYSTEM_PROMPT = 'You are a helpful assistant.';

/** One `name(:opt)*` item of a --dataset string. */
export interface DatasetItem {
  /** The item as written (trimmed). */
  readonly raw: string;
  /** Path or hub id or registered name. */
  readonly name: string;
  /** `split=a+b`. */
  readonly split?: readonly string[];
  /** `num=N`: take exactly N samples of this dataset. */
  readonly num?: number;
  /** `concat[=true|false]`: pack documents into seqlen-long chunks. */
  readonly concat: boolean;
  /** `apply_chat_template[=true|false]`, implied by system_prompt. */
  readonly applyChatTemplate: boolean;
  /** `system_prompt=…` (default "You are a helpful assistant."; empty: no system message). */
  readonly systemPrompt: string;
  /** Every option as written (known ones included), for source plugins: `key=value` → value, bare `key` → true. */
  readonly options: Readonly<Record<string, string | boolean>>;
}

const KNOWN = new Set(['split', 'num', 'concat', 'apply_chat_template', 'apply_template', 'system_prompt', 'text_field', 'lines', 'config']);

function bool(key: string, v: string | undefined, item: string): boolean {
  if (v === undefined || v === '') return true;
  const l = v.toLowerCase();
  if (l === 'false') return false;
  if (l === 'true') return true;
  throw new AutoRoundError('E_DATASET_SPEC', `--dataset item "${item}": ${key}=${v} must be true or false`, { subject: '--dataset' });
}

/**
 * Parses `dataset := item ("," item)*`, `item := name (":" opt)*`, with opts `split=a+b`, `num=N`,
 * `concat[=true|false]`, `apply_chat_template[=true|false]`, `system_prompt=text`, and ours:
 * `text_field=name` (the record field holding the text) and `lines` (a .txt file: one document per line).
 *
 * Whitespace around items, names, keys and values is stripped. The original deletes every space in the
 * whole string; here spaces inside a value are kept (so a system prompt can contain them), and a name is
 * only squeezed when it contains inner whitespace (" NeelNanda / pile-10k" works either way).
 * Unknown options are kept in `options` (for third-party sources) and reported through `onUnknown`.
 */
export function parseDatasetSpec(spec: string | undefined, onUnknown?: (item: string, key: string) => void): DatasetItem[] {
  const s = (spec ?? '').trim() || DEFAULT_DATASET;
  const items: DatasetItem[] = [];
  for (const rawItem of s.split(',')) {
    const raw = rawItem.trim();
    if (!raw) throw new AutoRoundError('E_DATASET_SPEC', `--dataset "${spec}" has an empty item`, { subject: '--dataset' });
    const parts = raw.split(':');
    let name = parts[0]!.trim();
    if (/\s/.test(name)) name = name.replace(/\s+/g, '');
    if (!name) throw new AutoRoundError('E_DATASET_SPEC', `--dataset item "${raw}" has no name`, { subject: '--dataset' });
    const options: Record<string, string | boolean> = {};
    let split: string[] | undefined;
    let num: number | undefined;
    let concat = false;
    let applyChatTemplate = false;
    let systemPrompt = DEFAULT_SYSTEM_PROMPT;
    for (const opt of parts.slice(1)) {
      const eq = opt.indexOf('=');
      const key = (eq < 0 ? opt : opt.slice(0, eq)).trim();
      const value = eq < 0 ? undefined : opt.slice(eq + 1).trim();
      if (!key) continue;
      options[key] = value ?? true;
      switch (key) {
        case 'split':
          if (!value) throw new AutoRoundError('E_DATASET_SPEC', `--dataset item "${raw}": split= needs a value (split=train or split=train+test)`, { subject: '--dataset' });
          split = value.split('+').map((x) => x.trim()).filter(Boolean);
          break;
        case 'num':
          if (!value || !/^\d+$/.test(value)) throw new AutoRoundError('E_DATASET_SPEC', `--dataset item "${raw}": num=${value ?? ''} must be a whole number`, { subject: '--dataset' });
          num = Number(value);
          break;
        case 'concat':
          concat = bool(key, value, raw);
          break;
        case 'apply_chat_template':
        case 'apply_template':
          applyChatTemplate = bool(key, value, raw);
          break;
        case 'system_prompt':
          systemPrompt = value ?? '';
          applyChatTemplate = true;
          break;
        case 'text_field':
          if (!value) throw new AutoRoundError('E_DATASET_SPEC', `--dataset item "${raw}": text_field= needs a field name`, { subject: '--dataset' });
          break;
        default:
          if (!KNOWN.has(key)) onUnknown?.(raw, key);
      }
    }
    items.push({ raw, name, split, num, concat, applyChatTemplate, systemPrompt, options });
  }
  return items;
}
