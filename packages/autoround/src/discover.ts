import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AutoRoundPlugin, Logger } from '@autoround/core';

interface PackageJson {
  name?: string;
  main?: string;
  exports?: Record<string, unknown> | string;
  autoround?: { plugin?: boolean };
}

export interface FoundPlugin {
  name: string;
  dir: string;
  entry: string;
}

function nodeModulesChain(start: string): string[] {
  const out: string[] = [];
  let d = resolve(start);
  for (;;) {
    const nm = join(d, 'node_modules');
    if (existsSync(nm)) out.push(nm);
    const up = dirname(d);
    if (up === d) return out;
    d = up;
  }
}

function entryOf(pkg: PackageJson, preferSource: boolean): string | undefined {
  const dot = typeof pkg.exports === 'object' && pkg.exports ? (pkg.exports['.'] as Record<string, unknown> | string | undefined) : pkg.exports;
  if (typeof dot === 'string') return dot;
  if (dot && typeof dot === 'object') {
    if (preferSource && typeof dot.source === 'string') return dot.source;
    for (const k of ['import', 'node', 'default']) if (typeof dot[k] === 'string') return dot[k] as string;
  }
  return pkg.main ?? 'index.js';
}

/**
 * Finds installed plugin packages: every package in a node_modules folder (from `roots` up to
 * the file-system root) whose package.json has `"autoround": { "plugin": true }`.
 */
export function findPlugins(roots: string[] = [process.cwd(), dirname(fileURLToPath(import.meta.url))]): FoundPlugin[] {
  const preferSource = process.execArgv.some((a) => a.includes('conditions=source')) || (process.env.NODE_OPTIONS ?? '').includes('conditions=source');
  const seen = new Map<string, FoundPlugin>();
  for (const root of roots) {
    for (const nm of nodeModulesChain(root)) {
      let entries: string[];
      try {
        entries = readdirSync(nm);
      } catch {
        continue;
      }
      const dirs: string[] = [];
      for (const e of entries) {
        if (e.startsWith('.')) continue;
        if (e.startsWith('@')) {
          try {
            for (const s of readdirSync(join(nm, e))) dirs.push(join(nm, e, s));
          } catch {
            /* not a folder */
          }
        } else dirs.push(join(nm, e));
      }
      for (const dir of dirs) {
        const pj = join(dir, 'package.json');
        if (!existsSync(pj)) continue;
        let pkg: PackageJson;
        try {
          pkg = JSON.parse(readFileSync(pj, 'utf8')) as PackageJson;
        } catch {
          continue;
        }
        if (!pkg.autoround?.plugin || !pkg.name || seen.has(pkg.name)) continue;
        const entry = entryOf(pkg, preferSource);
        if (entry) seen.set(pkg.name, { name: pkg.name, dir, entry: join(dir, entry) });
      }
    }
  }
  return [...seen.values()];
}

function isPlugin(x: unknown): x is AutoRoundPlugin {
  return typeof x === 'object' && x !== null && typeof (x as { name?: unknown }).name === 'string';
}

/** Imports each found package and takes its default export as the plugin. */
export async function loadPlugins(found: FoundPlugin[], log?: Logger): Promise<AutoRoundPlugin[]> {
  const out: AutoRoundPlugin[] = [];
  for (const f of found) {
    try {
      const mod = (await import(pathToFileURL(f.entry).href)) as { default?: unknown; plugin?: unknown };
      const p = mod.default ?? mod.plugin;
      if (isPlugin(p)) out.push(p);
      else log?.warn(`${f.name} declares itself an autoround plugin but its default export is not a plugin object`);
    } catch (e) {
      log?.warn(`could not load plugin ${f.name} from ${f.entry}: ${(e as Error).message}`);
    }
  }
  return out;
}
