import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoRoundError } from '@autoround/core-tensor';
import type { HFConfig } from './model-spec.js';

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

/** The architecture a config.json names (`architectures[0]`), which picks the architecture plugin. */
export function architectureOf(config: HFConfig, file: string): string {
  const a = config.architectures?.[0];
  if (typeof a !== 'string') throw new AutoRoundError('E_BAD_CONFIG', `${file}: "architectures" is missing, cannot tell which model this is`, { subject: file });
  return a;
}
