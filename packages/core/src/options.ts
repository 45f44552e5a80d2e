import { AutoRoundError } from '@autoround/core-tensor';
import type { AlgorithmPlugin } from './plugin.js';

/** The accepted values of a numeric option. */
export interface NumericRange {
  readonly integer: boolean;
  readonly min: number;
  /** min itself is not allowed (lr > 0). */
  readonly minExclusive?: boolean;
  readonly max: number;
  /** max itself is not allowed (momentum < 1). */
  readonly maxExclusive?: boolean;
  /** Values allowed outside [min, max], each with its meaning (group_size -1 and 0). */
  readonly special?: Readonly<Record<number, string>>;
}

/** The range of one numeric option, checked the same way for the API and the CLI (docs/options.md). */
export interface OptionRange extends NumericRange {
  /** The API option (camelCase). */
  readonly option: string;
  /** The CLI flag (snake_case, without the dashes); absent for an option of the API only. */
  readonly flag?: string;
}

/** How an option is named in errors: the API's option name, or the CLI's `--flag`. */
export type OptionNaming = 'option' | 'flag';

const INF = Number.POSITIVE_INFINITY;

function describeRange(r: NumericRange): string {
  const kind = r.integer ? 'an integer' : 'a number';
  const lo = r.min === -INF ? '' : `${r.minExclusive ? '>' : '≥'} ${r.min}`;
  const hi = r.max === INF ? (r.maxExclusive ? 'finite' : '') : `${r.maxExclusive ? '<' : '≤'} ${r.max}`;
  const special = Object.entries(r.special ?? {}).map(([v, what]) => `${v} (${what})`);
  return `${kind} ${[lo, hi].filter(Boolean).join(' and ')}${special.length ? `, or ${special.join(' or ')}` : ''}`;
}

function optionName(r: { option: string; flag?: string }, naming: OptionNaming): string {
  return naming === 'flag' && r.flag !== undefined ? `--${r.flag}` : r.option;
}

/** Throws AutoRoundError E_BAD_FLAG when `value` (an option's value; undefined passes) is outside its range. */
export function checkOptionRange(r: OptionRange, value: unknown, naming: OptionNaming = 'option'): void {
  if (value === undefined) return;
  const name = optionName(r, naming);
  const ok =
    typeof value === 'number' &&
    (r.special?.[value] !== undefined ||
      (!Number.isNaN(value) &&
        (!r.integer || Number.isInteger(value)) &&
        (r.minExclusive ? value > r.min : value >= r.min) &&
        (r.maxExclusive ? value < r.max : value <= r.max)));
  if (!ok) throw new AutoRoundError('E_BAD_FLAG', `${name} must be ${describeRange(r)}, got ${typeof value === 'number' ? value : JSON.stringify(value)}`, { subject: name });
}

/** What an algorithm option holds. */
export type AlgorithmOptionType = 'boolean' | 'number' | 'integer' | 'string';

/**
 * An option an algorithm reads from QuantizeOptions, declared by the algorithm (AlgorithmPlugin.options):
 * the CLI generates its flag and help from it, and the host and the CLI check values against it, so a
 * third-party algorithm's options work like the built-in ones (docs/adr/0020-plugin-contract-v1.md).
 */
export interface AlgorithmOption {
  /** The API option and the QuantizeOptions key (camelCase): "nblocks", "enableAdam". */
  readonly name: string;
  /** The CLI flag, the original's snake_case without the dashes ("enable_adam"); absent: the API's only. */
  readonly flag?: string;
  /** Other spellings of the flag. */
  readonly aliases?: readonly string[];
  readonly type: AlgorithmOptionType;
  /**
   * The value the algorithm uses when the option is not given; --help shows a number and a switch that
   * is on ("(default on)"). The algorithm applies it itself.
   */
  readonly default?: boolean | number | string;
  /** One line for --help. */
  readonly help: string;
  /** For a boolean: the flag that sets it false (--disable_minmax_tuning), with its help line. */
  readonly negation?: { readonly flag: string; readonly help: string };
  /** For a number or integer: the accepted values (the type says whether they are integers). */
  readonly range?: Omit<NumericRange, 'integer'>;
}

/** An algorithm option with the algorithm that declares it. */
export interface DeclaredOption {
  readonly algorithm: string;
  readonly option: AlgorithmOption;
}

/**
 * The options the algorithms declare, each name once (the first declaration, in the order given:
 * a registry's precedence order).
 */
export function declaredOptions(algorithms: readonly AlgorithmPlugin[]): DeclaredOption[] {
  const seen = new Set<string>();
  const out: DeclaredOption[] = [];
  for (const a of algorithms) {
    for (const option of a.options ?? []) {
      if (seen.has(option.name)) continue;
      seen.add(option.name);
      out.push({ algorithm: a.name, option });
    }
  }
  return out;
}

/** The range check of a declared numeric option (undefined for other types, or without a range). */
export function rangeOf(o: AlgorithmOption): OptionRange | undefined {
  if ((o.type !== 'number' && o.type !== 'integer') || !o.range) return undefined;
  return { ...o.range, integer: o.type === 'integer', option: o.name, ...(o.flag !== undefined ? { flag: o.flag } : {}) };
}

/** Throws AutoRoundError E_BAD_FLAG when `value` (undefined passes) is not of the declared type or outside its range. */
export function checkAlgorithmOption(o: AlgorithmOption, value: unknown, naming: OptionNaming = 'option'): void {
  if (value === undefined) return;
  const r = rangeOf(o);
  if (r) return checkOptionRange(r, value, naming);
  const name = optionName({ option: o.name, ...(o.flag !== undefined ? { flag: o.flag } : {}) }, naming);
  const expected = o.type === 'boolean' ? 'boolean' : o.type === 'string' ? 'string' : 'number';
  const ok = typeof value === expected && !(expected === 'number' && (Number.isNaN(value) || (o.type === 'integer' && !Number.isInteger(value))));
  if (!ok) throw new AutoRoundError('E_BAD_FLAG', `${name} must be ${o.type === 'boolean' ? 'true or false' : o.type === 'integer' ? 'an integer' : `a ${o.type}`}, got ${JSON.stringify(value)}`, { subject: name });
}
