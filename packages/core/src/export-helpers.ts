import { chmodSync, copyFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writing } from '@autoround/core-tensor';
import type { HFConfig } from './model-spec.js';

/** The files a quantized model needs beside its weights and config: tokenizer, processor, generation settings. */
const SIDE_FILE = /^(tokenizer.*|special_tokens_map\.json|added_tokens\.json|generation_config\.json|vocab\.(json|txt)|merges\.txt|spiece\.model|chat_template\.(jinja|json)|(pre)?processor_config\.json)$/;

/** Copies tokenizer, generation and processor files; weights and config.json are written by the exporter. */
export function copySideFiles(sourceDir: string, targetDir: string): string[] {
  const copied: string[] = [];
  for (const f of readdirSync(sourceDir)) {
    if (!SIDE_FILE.test(f)) continue;
    const p = join(sourceDir, f);
    if (!statSync(p).isFile()) continue;
    const dst = join(targetDir, f);
    writing(dst, () => {
      copyFileSync(p, dst);
      chmodSync(dst, 0o644); // sources may be read-only; the copy belongs to the user
    });
    copied.push(f);
  }
  return copied;
}

/** Writes config.json, adding `quantization_config` when given. */
export function writeModelConfig(targetDir: string, config: HFConfig, quantizationConfig?: Record<string, unknown>): void {
  const out: Record<string, unknown> = { ...config };
  if (quantizationConfig) out.quantization_config = quantizationConfig;
  writeJson(join(targetDir, 'config.json'), out);
}

export function writeJson(file: string, value: unknown): void {
  writing(file, () => writeFileSync(file, JSON.stringify(value, null, 2) + '\n'));
}
