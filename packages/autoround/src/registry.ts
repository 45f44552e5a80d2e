import { type AutoRoundPlugin, type Logger, Registry } from '@autoround/core';
import rtnPlugin from '@autoround/algo-rtn';
import exportAutoRoundPlugin from '@autoround/export-autoround';
import exportAwqPlugin from '@autoround/export-awq';
import exportGptqPlugin from '@autoround/export-gptq';
import exportLlmcPlugin from '@autoround/export-llmc';
import kernelsCpuPlugin from '@autoround/kernels-cpu';
import modelsPlugin from '@autoround/models';
import { findNamedPlugins, findPlugins, loadPlugins } from './discover.js';

/** The plugins the host ships with; everything else is discovered. */
export const builtinPlugins: AutoRoundPlugin[] = [modelsPlugin, rtnPlugin, exportAutoRoundPlugin, exportGptqPlugin, exportAwqPlugin, exportLlmcPlugin, kernelsCpuPlugin];

export interface RegistryOptions {
  /** Plugins the user names: objects, or package names imported from the roots. They win every name clash. */
  plugins?: (AutoRoundPlugin | string)[];
  /** Look for plugins among the dependencies of the roots' nearest package.json (default true). */
  discover?: boolean;
  /** Where plugins are looked for (default: the working directory); the CLI adds its own folder. */
  roots?: string[];
  log?: Logger;
}

/**
 * A registry with the given plugins, the discovered ones (the project's dependencies) and the built-in
 * ones, in that precedence (docs/adr/0020-plugin-contract-v1.md).
 */
export async function createRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const r = new Registry(options.log ? { log: options.log } : {});
  const given = options.plugins ?? [];
  const named = given.filter((p): p is string => typeof p === 'string');
  const objects = given.filter((p): p is AutoRoundPlugin => typeof p !== 'string');
  r.use([...objects, ...(await loadPlugins(findNamedPlugins(named, options.roots), options.log, true))], { source: 'explicit' });
  if (options.discover !== false) {
    // a package the host bundles is used as the host imported it, not imported a second time from the
    // project's node_modules (two module instances of one package would not share their classes)
    const bundled = new Map(builtinPlugins.map((p) => [p.name, p]));
    const discovered: AutoRoundPlugin[] = [];
    for (const f of findPlugins(options.roots)) discovered.push(...(bundled.has(f.name) ? [bundled.get(f.name)!] : await loadPlugins([f], options.log)));
    r.use(discovered, { source: 'discovered' });
  }
  r.use(builtinPlugins, { source: 'builtin' });
  return r;
}
