import { type AutoRoundPlugin, type Logger, Registry } from '@autoround/core';
import { findNamedPlugins, findPlugins, loadPlugins } from './discover.js';

export interface RegistryOptions {
  /** Plugins the user names: objects, or package names imported from the roots. They win every name clash. */
  plugins?: (AutoRoundPlugin | string)[];
  /** Look for plugins among the dependencies of the roots' nearest package.json (default true). */
  discover?: boolean;
  /** Where plugins are looked for (default: the working directory); the CLI adds its own folder. */
  roots?: string[];
  /**
   * The built-in set, of the lowest precedence: a preset's list (the CLI passes @autoround/preset-default's
   * defaultPlugins). Default: that preset's base set when it is installed, else none.
   */
  builtins?: readonly AutoRoundPlugin[];
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

/**
 * A registry with the given plugins, the discovered ones (the project's dependencies) and the built-in
 * ones, in that precedence (docs/adr/0020-plugin-contract-v1.md).
 */
export async function createRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const r = new Registry(options.log ? { log: options.log } : {});
  const builtins = options.builtins ?? (await presetBase());
  const given = options.plugins ?? [];
  const named = given.filter((p): p is string => typeof p === 'string');
  const objects = given.filter((p): p is AutoRoundPlugin => typeof p !== 'string');
  r.use([...objects, ...(await loadPlugins(findNamedPlugins(named, options.roots), options.log, true))], { source: 'explicit' });
  if (options.discover !== false) {
    // a package of the built-in set is used as the preset imported it, not imported a second time from the
    // project's node_modules (two module instances of one package would not share their classes)
    const bundled = new Map(builtins.map((p) => [p.name, p]));
    const discovered: AutoRoundPlugin[] = [];
    for (const f of findPlugins(options.roots)) discovered.push(...(bundled.has(f.name) ? [bundled.get(f.name)!] : await loadPlugins([f], options.log)));
    r.use(discovered, { source: 'discovered' });
  }
  r.use([...builtins], { source: 'builtin' });
  return r;
}
