// The --options list of AutoScheme: preset names resolved to schemes, duplicates (two names of one scheme)
// dropped, "mixed" recipes refused (docs/autoscheme.md#options).

import { AutoRoundError, type AutoSchemeRequest, PRESET_SCHEMES, presetScheme, type QuantScheme, schemeEquals } from '@autoround/core';

export interface SchemeOption {
  /** The canonical preset name ("W2A16", "GGUF:Q4_K_S"): what --layer_config receives. */
  readonly name: string;
  /** As the user wrote it. */
  readonly given: string;
  readonly scheme: QuantScheme;
}

/** "W2A16,W4A16", "gguf:q2_k_s gguf:q4_k_s" or a list of such strings → the items. */
export function splitOptions(options: readonly string[] | string): string[] {
  const list = typeof options === 'string' ? [options] : options;
  return list.flatMap((o) => o.split(/[\s,]+/)).map((o) => o.trim()).filter(Boolean);
}

/**
 * Resolves each option to its preset scheme, in the order given, dropping an option whose scheme an
 * earlier one already has (Q3_K_S, Q3_K_M and Q3_K_L are one scheme). Errors name --options.
 */
export function resolveOptions(options: readonly string[]): SchemeOption[] {
  const items = splitOptions(options);
  if (items.length === 0) throw new AutoRoundError('E_BAD_FLAG', '--options is empty: give the schemes AutoScheme chooses from, e.g. --options W2A16,W4A16', { subject: '--options' });
  const out: SchemeOption[] = [];
  for (const given of items) {
    if (/mixed/i.test(given)) {
      throw new AutoRoundError('E_BAD_FLAG', `--options ${given}: a "mixed" preset is itself a per-layer recipe, not one scheme AutoScheme can choose; list plain schemes (W2A16, W4A16, gguf:q4_k_s …)`, { subject: '--options' });
    }
    const key = Object.keys(PRESET_SCHEMES).find((k) => k.toUpperCase() === given.toUpperCase());
    if (!key) {
      throw new AutoRoundError('E_UNKNOWN_SCHEME', `--options ${given}: unknown scheme; known: ${Object.keys(PRESET_SCHEMES).filter((k) => !/MIXED/.test(k)).join(', ')}`, { subject: '--options' });
    }
    const scheme = presetScheme(key);
    if (out.some((o) => schemeEquals(o.scheme, scheme))) continue;
    out.push({ name: key, given, scheme });
  }
  return out;
}

/** The request's checks that need no model: the options, and a target inside what any model's bits could be. */
export function validateRequest(request: AutoSchemeRequest): SchemeOption[] {
  if (!(typeof request.avgBits === 'number' && Number.isFinite(request.avgBits) && request.avgBits > 0)) {
    throw new AutoRoundError('E_BAD_FLAG', `--avg_bits must be a positive number, got ${String(request.avgBits)}`, { subject: '--avg_bits' });
  }
  for (const [name, v, min] of [
    ['nsamples', request.nsamples, 1],
    ['seqlen', request.seqlen, 2],
    ['batch_size', request.batchSize, 1],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new AutoRoundError('E_BAD_FLAG', `AutoScheme ${name} must be an integer ≥ ${min}, got ${v}`, { subject: `--avg_bits` });
  }
  return resolveOptions(request.options);
}
