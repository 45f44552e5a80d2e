import { type AutoRoundPlugin, type Logger, Registry } from '@autoround/core';
import rtnPlugin from '@autoround/algo-rtn';
import exportAutoRoundPlugin from '@autoround/export-autoround';
import exportAwqPlugin from '@autoround/export-awq';
import exportGptqPlugin from '@autoround/export-gptq';
import exportLlmcPlugin from '@autoround/export-llmc';
import kernelsCpuPlugin from '@autoround/kernels-cpu';
import modelsPlugin from '@autoround/models';
import { findPlugins, loadPlugins } from './discover.js';

/** The plugins the host ships with; everything else is discovered. */
export const builtinPlugins: AutoRoundPlugin[] = [modelsPlugin, rtnPlugin, exportAutoRoundPlugin, exportGptqPlugin, exportAwqPlugin, exportLlmcPlugin, kernelsCpuPlugin];

export interface RegistryOptions {
  plugins?: AutoRoundPlugin[];
  /** Scan node_modules for installed plugins (default true). */
  discover?: boolean;
  log?: Logger;
}

/** A registry with the built-in plugins, the given ones, and (by default) every installed one. */
export async function createRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const r = new Registry();
  r.use(...(options.plugins ?? []));
  if (options.discover !== false) r.use(...(await loadPlugins(findPlugins(), options.log)));
  r.use(...builtinPlugins);
  return r;
}
