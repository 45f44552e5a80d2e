import { AutoRoundError, type HFConfig } from '@autoround/core';

// config.json is read and its architecture named by @autoround/core (hosts and exporters read it too)
export { architectureOf, readConfig } from '@autoround/core';

/** A required integer field of config.json. */
export function intField(config: HFConfig, key: string, file: string, fallback?: number): number {
  const v = config[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: "${key}" is missing`, { subject: file });
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new AutoRoundError('E_BAD_CONFIG', `${file}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`, { subject: file });
  return v;
}

export function numField(config: HFConfig, key: string, fallback: number): number {
  const v = config[key];
  return typeof v === 'number' ? v : fallback;
}
