import { type AutoRoundPlugin, type Logger, Registry } from '@autoround/core';
import { findPlugins, loadPlugins } from './discover.js';

export interface RegistryOptions {
  plugins?: AutoRoundPlugin[];
  /** Scan node_modules for installed plugins (default true). */
  discover?: boolean;
  log?: Logger;
}

/**
 * The base set of @autoround/preset-default when it is installed (models, RTN, the safetensors
 * exporters, the CPU kernels: what the host bundled before it depended on core only), else none.
 * Looked up at run time: the host declares no dependency on it (docs/adr/0019-host-depends-on-core.md).
 */
async function presetBase(): Promise<readonly AutoRoundPlugin[]> {
  const spec = '@autoround/preset-default';
  try {
    return ((await import(spec)) as { basePlugins: readonly AutoRoundPlugin[] }).basePlugins;
  } catch {
    return [];
  }
}

/** A registry with the given plugins, (by default) every installed one, and the preset's base set when installed. */
export async function createRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const r = new Registry();
  r.use(...(options.plugins ?? []));
  if (options.discover !== false) r.use(...(await loadPlugins(findPlugins(), options.log)));
  r.use(...(await presetBase()));
  return r;
}
