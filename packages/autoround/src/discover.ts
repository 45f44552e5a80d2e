import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AutoRoundError, type AutoRoundPlugin, type Logger } from '@autoround/core';

interface PackageJson {
  name?: string;
  main?: string;
  exports?: Record<string, unknown> | string;
  autoround?: { plugin?: boolean };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  workspaces?: string[] | { packages?: string[] };
}

export interface FoundPlugin {
  name: string;
  dir: string;
  entry: string;
}

function readJson(file: string): PackageJson | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}

/** The package.json nearest to `start` (itself or a folder above), if any. */
export function nearestPackageJson(start: string): string | undefined {
  let d = resolve(start);
  for (;;) {
    const pj = join(d, 'package.json');
    if (existsSync(pj)) return pj;
    const up = dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

/**
 * Where Node would find package `name` from folder `from`: node_modules/<name> there or in a folder above,
 * as a real path (a workspace link resolved), which is how Node identifies the module it loads.
 */
function packageDir(name: string, from: string): string | undefined {
  let d = resolve(from);
  for (;;) {
    const dir = join(d, 'node_modules', name);
    if (existsSync(join(dir, 'package.json'))) return realpathSync(dir);
    const up = dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

/** The folders of a workspaces root's members ("packages/*" and plain folders; the forms npm documents most). */
function workspaceDirs(root: string, pkg: PackageJson): string[] {
  const patterns = Array.isArray(pkg.workspaces) ? pkg.workspaces : (pkg.workspaces?.packages ?? []);
  const out: string[] = [];
  for (const p of patterns) {
    if (p.endsWith('/*')) {
      const base = join(root, p.slice(0, -2));
      try {
        for (const e of readdirSync(base)) if (existsSync(join(base, e, 'package.json'))) out.push(join(base, e));
      } catch {
        /* no such folder */
      }
    } else if (!p.includes('*') && existsSync(join(root, p, 'package.json'))) out.push(join(root, p));
  }
  return out;
}

function preferSource(): boolean {
  return process.execArgv.some((a) => a.includes('conditions=source')) || (process.env.NODE_OPTIONS ?? '').includes('conditions=source');
}

function entryOf(pkg: PackageJson): string | undefined {
  const dot = typeof pkg.exports === 'object' && pkg.exports ? (pkg.exports['.'] as Record<string, unknown> | string | undefined) : pkg.exports;
  if (typeof dot === 'string') return dot;
  if (dot && typeof dot === 'object') {
    if (preferSource() && typeof dot.source === 'string') return dot.source;
    for (const k of ['import', 'node', 'default']) if (typeof dot[k] === 'string') return dot[k] as string;
  }
  return pkg.main ?? 'index.js';
}

function found(dir: string, pkg: PackageJson): FoundPlugin | undefined {
  const entry = entryOf(pkg);
  return pkg.name && entry ? { name: pkg.name, dir, entry: join(dir, entry) } : undefined;
}

/**
 * Finds the plugin packages a project depends on: for each root, the nearest package.json's
 * dependencies (dev, optional and peer ones too) and, for a workspaces root, its members, whose
 * package.json has `"autoround": { "plugin": true }`. Nothing else in node_modules is looked at
 * (docs/adr/0020-plugin-contract-v1.md).
 */
export function findPlugins(roots: string[] = [process.cwd()]): FoundPlugin[] {
  const seen = new Map<string, FoundPlugin>();
  for (const root of roots) {
    const pj = nearestPackageJson(root);
    const project = pj ? readJson(pj) : undefined;
    if (!pj || !project) continue;
    const base = dirname(pj);
    const names = new Set([project.dependencies, project.devDependencies, project.optionalDependencies, project.peerDependencies].flatMap((d) => Object.keys(d ?? {})));
    const dirs = [...[...names].flatMap((n) => packageDir(n, base) ?? []), ...workspaceDirs(base, project)];
    for (const dir of dirs) {
      const pkg = readJson(join(dir, 'package.json'));
      if (!pkg?.autoround?.plugin || !pkg.name || seen.has(pkg.name)) continue;
      const f = found(dir, pkg);
      if (f) seen.set(pkg.name, f);
    }
  }
  return [...seen.values()];
}

/**
 * The packages the user named (`--plugin NAME`, API `plugins: ['NAME']`), found from the roots as
 * Node would resolve them; a name that is not installed is an error.
 */
export function findNamedPlugins(names: readonly string[], roots: string[] = [process.cwd()]): FoundPlugin[] {
  return names.map((name) => {
    for (const root of roots) {
      const dir = packageDir(name, root);
      const pkg = dir ? readJson(join(dir, 'package.json')) : undefined;
      const f = dir && pkg ? found(dir, pkg) : undefined;
      if (f) return f;
    }
    throw new AutoRoundError('E_NOT_INSTALLED', `plugin ${name} (--plugin) is not installed in ${roots.map((r) => resolve(r)).join(' or ')}`, { subject: '--plugin' });
  });
}

function isPlugin(x: unknown): x is AutoRoundPlugin {
  return typeof x === 'object' && x !== null && typeof (x as { name?: unknown }).name === 'string';
}

/**
 * Imports each found package and takes its default export as the plugin. A discovered package that
 * fails is skipped with a warning; with `strict` (plugins the user named) it is an error.
 */
export async function loadPlugins(found: FoundPlugin[], log?: Logger, strict = false): Promise<AutoRoundPlugin[]> {
  const out: AutoRoundPlugin[] = [];
  for (const f of found) {
    let why: string;
    try {
      const mod = (await import(pathToFileURL(f.entry).href)) as { default?: unknown; plugin?: unknown };
      const p = mod.default ?? mod.plugin;
      if (isPlugin(p)) {
        out.push(p);
        continue;
      }
      why = `${f.name} is not an autoround plugin: its default export is not a plugin object`;
    } catch (e) {
      why = `could not load plugin ${f.name} from ${f.entry}: ${(e as Error).message}`;
    }
    if (strict) throw new AutoRoundError('E_PLUGIN', why, { subject: '--plugin' });
    log?.warn(why);
  }
  return out;
}
