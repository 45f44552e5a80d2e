import { existsSync, statSync } from 'node:fs';
import { AutoRoundError, type Logger } from '@autoround/core';

interface HubModule {
  resolveModel(idOrPath: string, options?: { log?: Logger }): Promise<string>;
}

/** A local folder as is; otherwise a hub id, downloaded into the HF cache by @autoround/hub when installed. */
export async function resolveModelDir(model: string, log?: Logger): Promise<string> {
  if (existsSync(model)) {
    if (!statSync(model).isDirectory()) throw new AutoRoundError('E_NOT_FOUND', `--model ${model} is a file; expected a model folder or a hub id`, { subject: model });
    return model;
  }
  if (/^[\w.-]+\/[\w.-]+$/.test(model)) {
    const spec = '@autoround/hub';
    let hub: HubModule;
    try {
      hub = (await import(spec)) as HubModule;
    } catch {
      throw new AutoRoundError('E_NOT_FOUND', `--model ${model}: no such folder, and @autoround/hub (needed to download hub models) is not installed`, { subject: model });
    }
    return hub.resolveModel(model, log ? { log } : {});
  }
  throw new AutoRoundError('E_NOT_FOUND', `--model ${model}: no such folder (and not a hub id of the form org/name)`, { subject: model });
}
