import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoRoundError, type HFConfig } from '@autoround/core';

/** Reads and parses `<dir>/config.json`, naming the file in every error. */
export function readConfig(dir: string): HFConfig {
  const file = join(dir, 'config.json');
  if (!existsSync(dir)) throw new AutoRoundError('E_NOT_FOUND', `model folder ${dir} does not exist`, { subject: dir });
  if (!existsSync(file)) throw new AutoRoundError('E_NO_CONFIG', `${file} is missing: a Hugging Face model folder needs config.json`, { subject: file });
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file} is not valid JSON (${(e as Error).message})`, { subject: file });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file} does not hold a JSON object`, { subject: file });
  }
  return parsed as HFConfig;
}

export function architectureOf(config: HFConfig, file: string): string {
  const a = config.architectures?.[0];
  if (typeof a !== 'string') throw new AutoRoundError('E_BAD_CONFIG', `${file}: "architectures" is missing, cannot tell which model this is`, { subject: file });
  return a;
}

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
