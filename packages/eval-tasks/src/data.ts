// Where a task's documents come from (docs/eval/tasks.md, "Data"): a local file (`--tasks NAME:PATH`: JSON
// Lines, JSON, Parquet in the hub's schema, or llama.cpp's HellaSwag text) or the hub dataset the harness
// reads, through @autoround/hub and its cache (HF_HUB_OFFLINE answers from the cache only).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readParquetRows } from '@autoround/calib-datasets';
import { AutoRoundError, decodeUtf8Text, describeSystemError, isAutoRoundError } from '@autoround/core-tensor';
import { datasetSplitFiles, type HubOptions } from '@autoround/hub';
import { parseLlamaCppHellaswag, type LlamaCppHellaswagTask } from './llamacpp.js';
import type { Doc, TaskDef } from './tasks.js';

export interface LoadedDocs {
  readonly docs: Doc[];
  /** Where each document came from, for errors ("file.jsonl line 3"). */
  where(i: number): string;
  /** The llama.cpp text layout's tasks, when the file is one. */
  readonly llamaCpp?: LlamaCppHellaswagTask[];
}

function readBytes(path: string, flag: string): Uint8Array {
  if (!existsSync(path)) throw new AutoRoundError('E_NOT_FOUND', `${flag}: task file ${path} does not exist`, { subject: path });
  if (statSync(path).isDirectory()) throw new AutoRoundError('E_NOT_A_FILE', `${flag}: task file ${path} is a folder; name a .jsonl, .json, .parquet or llama.cpp .txt file`, { subject: path });
  try {
    return readFileSync(path);
  } catch (e) {
    throw new AutoRoundError('E_READ', `cannot read task file ${describeSystemError(e, path) ?? `${path}: ${(e as Error).message}`}`, { subject: path, cause: e });
  }
}

function asDoc(v: unknown, where: string): Doc {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new AutoRoundError('E_DATASET_RECORD', `${where}: a task document should be a JSON object`, { subject: where });
  return v as Doc;
}

/** Documents of a local file, by its extension. */
export async function readTaskFile(path: string, flag = '--tasks'): Promise<LoadedDocs> {
  const lower = path.toLowerCase();
  if (lower.endsWith('.parquet')) {
    if (!existsSync(path)) throw new AutoRoundError('E_NOT_FOUND', `${flag}: task file ${path} does not exist`, { subject: path });
    const docs = await readParquetRows(path);
    return { docs, where: (i) => `${path} row ${i}` };
  }
  const text = decodeUtf8Text(readBytes(path, flag), path);
  if (lower.endsWith('.jsonl')) {
    const docs: Doc[] = [];
    const lineOf: number[] = [];
    text.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw new AutoRoundError('E_DATASET_FILE', `${path} line ${i + 1}: not JSON (${(e as Error).message})`, { subject: path });
      }
      docs.push(asDoc(v, `${path} line ${i + 1}`));
      lineOf.push(i + 1);
    });
    return { docs, where: (i) => `${path} line ${lineOf[i] ?? '?'}` };
  }
  if (lower.endsWith('.json')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new AutoRoundError('E_DATASET_FILE', `${path}: not JSON (${(e as Error).message})`, { subject: path });
    }
    if (!Array.isArray(v)) throw new AutoRoundError('E_DATASET_FILE', `${path}: a .json task file should hold an array of documents`, { subject: path });
    return { docs: v.map((d, i) => asDoc(d, `${path} item ${i}`)), where: (i) => `${path} item ${i}` };
  }
  if (lower.endsWith('.txt')) {
    const llamaCpp = parseLlamaCppHellaswag(text, path);
    return { docs: llamaCpp.map((t) => ({ query: t.context, choices: [...t.endings], label: t.gold })), where: (i) => `${path} task ${i + 1} (line ${i * 6 + 1})`, llamaCpp };
  }
  throw new AutoRoundError('E_DATASET_UNSUPPORTED', `${flag}: task file ${path}: use .jsonl, .json, .parquet (the hub's schema) or llama.cpp's HellaSwag .txt`, { subject: path });
}

/** One split of the task's hub dataset; offline and not cached, or unreachable, says how to get it. */
export async function readHubSplit(task: TaskDef, split: string, hub: HubOptions = {}): Promise<LoadedDocs> {
  const { repo, config } = task.hub;
  try {
    const found = await datasetSplitFiles({ ...hub, repoId: repo, split, ...(config ? { config } : {}) });
    const docs: Doc[] = [];
    const from: string[] = [];
    for (const p of found.paths) {
      const part = await readTaskFile(p, '--tasks');
      part.docs.forEach((d, i) => {
        docs.push(d);
        from.push(part.where(i));
      });
    }
    return { docs, where: (i) => `${repo} ${split} (${from[i] ?? '?'})` };
  } catch (e) {
    if (isAutoRoundError(e) && ['E_HUB_OFFLINE', 'E_HUB_NETWORK'].includes(e.code)) {
      throw new AutoRoundError(
        'E_DATASET_UNAVAILABLE',
        `--tasks ${task.name}: the hub dataset ${repo}${config ? ` (${config})` : ''}, split ${split}, is not in the cache and the hub cannot be reached (${e.message}). ` +
          `Run once with the network (HF_HUB_OFFLINE unset) to cache it, or give the documents as a file: --tasks ${task.name}:PATH (.jsonl/.parquet with fields ${task.fields.join(', ')})`,
        { subject: '--tasks', cause: e },
      );
    }
    throw e;
  }
}
