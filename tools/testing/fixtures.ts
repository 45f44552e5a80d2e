import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root and the shared fixtures beside it (tests only; the product never reads them). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = resolve(REPO_ROOT, '../shared');
export const STORIES = join(SHARED, 'models/stories260K');
export const LLAMA256 = join(SHARED, 'models/llama-256');
export const TINYSTORIES = join(SHARED, 'datasets/tinystories/TinyStories-validation-sample.txt');
export const HAS_SHARED = existsSync(join(STORIES, 'config.json'));

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'autoround-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A seeded xorshift32 stream of numbers in [0, 1), for generated test and benchmark inputs. */
export function xorshiftRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

export type NodeLlamaCpp = typeof import('node-llama-cpp');

/**
 * node-llama-cpp (prebuilt llama.cpp, a dev dependency of @autoround/export-gguf) when it loads on
 * this machine, else null and the reason: tests that run our GGUF files in llama.cpp skip without it.
 */
export async function loadNodeLlamaCpp(): Promise<{ nlc: NodeLlamaCpp | null; why: string }> {
  try {
    return { nlc: await import('node-llama-cpp'), why: '' };
  } catch (e) {
    return { nlc: null, why: (e as Error).message };
  }
}
