// Issue #14 item 6: the dependency directions of docs/conventions.md ("Dependency direction"), enforced. Every
// package's sources and tests are scanned for the modules they import; a rule broken anywhere fails this test
// with the file, the line and the rule, so a layering mistake is caught when it is made, not by a user who
// installs an algorithm and gets a file format with it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/fixtures.js';

interface Pkg {
  readonly name: string;
  readonly dir: string;
  /** What the published package may import: dependencies, peer and optional dependencies. */
  readonly runtime: ReadonlySet<string>;
  /** What its tests may import besides: its devDependencies. */
  readonly dev: ReadonlySet<string>;
}

interface Import {
  readonly file: string;
  readonly line: number;
  readonly spec: string;
  /** In a test, benchmark or tool file rather than the published sources. */
  readonly test: boolean;
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function keys(o: unknown): string[] {
  return o && typeof o === 'object' ? Object.keys(o) : [];
}

function workspacePackages(): Pkg[] {
  const out: Pkg[] = [];
  for (const top of ['packages', 'examples']) {
    for (const e of readdirSync(join(REPO_ROOT, top), { withFileTypes: true })) {
      const dir = join(REPO_ROOT, top, e.name);
      if (!e.isDirectory() || !existsSync(join(dir, 'package.json'))) continue;
      const pj = readJson(join(dir, 'package.json'));
      out.push({
        name: String(pj.name),
        dir,
        runtime: new Set([...keys(pj.dependencies), ...keys(pj.peerDependencies), ...keys(pj.optionalDependencies)]),
        dev: new Set(keys(pj.devDependencies)),
      });
    }
  }
  return out;
}

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (/\.(ts|mts|mjs|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// `import … from 'x'`, `export … from 'x'`, `import 'x'`, `import('x')`, `require('x')`, `vi.mock('x')`
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*|\bvi\.mock\s*\(\s*)(['"])([^'"\n]+)\1/g;

function importsOf(file: string, test: boolean): Import[] {
  const out: Import[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (/^\s*(\/\/|\*|\/\*)/.test(text)) return;
      for (const m of text.matchAll(IMPORT)) out.push({ file, line: i + 1, spec: m[2]!, test });
    });
  return out;
}

/** The package a bare specifier names: "@scope/name/sub" → "@scope/name", "name/sub" → "name". */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

const BUILTINS = new Set(builtinModules);

function isBuiltin(spec: string): boolean {
  return spec.startsWith('node:') || BUILTINS.has(packageOf(spec));
}

/**
 * Where each package sits (docs/conventions.md, "Layers point down"): a package may import packages of a lower
 * layer, and of its own layer where the rules below allow it.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['@autoround/core-tensor'],
  ['@autoround/core'],
  ['@autoround/kernels-cpu', '@autoround/kernels-cuda', '@autoround/quant-types', '@autoround/models', '@autoround/hub', '@autoround/eval'],
  ['@autoround/calib-datasets', '@autoround/algo-rtn', '@autoround/algo-signround', '@autoround/autoscheme', '@autoround/export-autoround', '@autoround/export-gptq', '@autoround/export-awq', '@autoround/export-llmc', '@autoround/export-gguf', '@autoround/export-onnx', '@autoround/eval-tasks'],
  ['@autoround/autoround'],
  ['@autoround/preset-default'],
  ['@autoround/cli'],
];

function layerOf(name: string): number {
  return LAYERS.findIndex((l) => l.includes(name));
}

const isAlgorithm = (n: string) => /^@autoround\/(algo-|autoscheme$)/.test(n);
const isExporter = (n: string) => n.startsWith('@autoround/export-');

/**
 * The rules one import of `from` breaks (empty when none). `target` is the imported workspace package, if the
 * specifier names one.
 */
function brokenRules(from: Pkg, imp: Import, target: string | undefined, rootDev: ReadonlySet<string>): string[] {
  const broken: string[] = [];
  const spec = imp.spec;
  if (spec.startsWith('.')) {
    const to = resolve(dirname(imp.file), spec);
    const inside = to === from.dir || to.startsWith(from.dir + sep);
    // the shared test helpers are a package too (@autoround/testing, docs/conventions.md "Test helpers"): no exception
    if (!inside) broken.push(`relative import leaves ${relative(REPO_ROOT, from.dir)} (import the package by name instead)`);
    return broken;
  }
  if (isBuiltin(spec)) return broken;
  const pkg = packageOf(spec);
  if (pkg === from.name) {
    if (!imp.test) broken.push('a package imports itself by name');
    return broken;
  }
  const declared = from.runtime.has(pkg) || (imp.test && (from.dev.has(pkg) || rootDev.has(pkg)));
  if (!declared) broken.push(`${pkg} is not declared in ${relative(REPO_ROOT, join(from.dir, 'package.json'))}${imp.test ? ' (dependencies or devDependencies)' : ' (dependencies or peerDependencies)'}`);
  if (imp.test || target === undefined) return broken;
  if (from.name === '@autoround/core-tensor') broken.push('core-tensor imports nothing of ours');
  if (isAlgorithm(from.name) && isExporter(target)) broken.push('an algorithm imports an exporter');
  if (isExporter(from.name) && isAlgorithm(target)) broken.push('an exporter imports an algorithm');
  if (from.name === '@autoround/autoround' && target !== '@autoround/core' && target !== '@autoround/core-tensor') broken.push('the host depends on core only (a preset package bundles the rest)');
  const a = layerOf(from.name);
  const b = layerOf(target);
  if (a >= 0 && b > a) broken.push(`${from.name} (layer ${a}) imports ${target}, a package above it (layer ${b})`);
  return broken;
}

/** Known breaks not yet repaired, each with the reason; the list only shrinks (a stale entry fails too). */
const EXCEPTIONS: readonly { readonly where: string; readonly rule: string; readonly why: string }[] = [];

function violations(): string[] {
  const pkgs = workspacePackages();
  const names = new Set(pkgs.map((p) => p.name));
  const rootDev = new Set([...keys(readJson(join(REPO_ROOT, 'package.json')).devDependencies)]);
  const out: string[] = [];
  for (const p of pkgs) {
    const files = [
      // a `*-source.mjs` file in src starts a worker from the TypeScript sources under the `source` condition (tests
      // and benchmarks; tsup does not ship it): it is dev-only, so its imports count as a test's (tsx, a devDependency)
      ...tsFiles(join(p.dir, 'src')).map((f) => ({ f, test: f.endsWith('-source.mjs') })),
      ...['test', 'bench', 'scripts'].flatMap((d) => tsFiles(join(p.dir, d)).map((f) => ({ f, test: true }))),
    ];
    for (const { f, test } of files) {
      for (const imp of importsOf(f, test)) {
        const target = imp.spec.startsWith('.') ? undefined : names.has(packageOf(imp.spec)) ? packageOf(imp.spec) : undefined;
        for (const rule of brokenRules(p, imp, target, rootDev)) out.push(`${relative(REPO_ROOT, f)}:${imp.line}: ${imp.spec}: ${rule}`);
      }
    }
  }
  return out;
}

describe('dependency rules (docs/conventions.md, "Dependency direction")', () => {
  const found = violations();

  it('no package breaks them', () => {
    const known = (v: string) => EXCEPTIONS.some((e) => v.startsWith(e.where) && v.includes(e.rule));
    expect(found.filter((v) => !known(v))).toEqual([]);
  });

  it('every listed exception still exists (remove the entry once it is repaired)', () => {
    expect(EXCEPTIONS.filter((e) => !found.some((v) => v.startsWith(e.where) && v.includes(e.rule))).map((e) => `${e.where}: ${e.rule}`)).toEqual([]);
  });

  it('each rule catches what it is for (the scan is not vacuous)', () => {
    const pkg = (name: string, runtime: string[] = []): Pkg => ({ name, dir: join(REPO_ROOT, 'packages', name.replace('@autoround/', '')), runtime: new Set(runtime), dev: new Set() });
    const at = (p: Pkg, spec: string, test = false): Import => ({ file: join(p.dir, test ? 'test' : 'src', 'x.ts'), line: 1, spec, test });
    const rules = (p: Pkg, spec: string, test = false) => brokenRules(p, at(p, spec, test), spec.startsWith('@autoround/') ? packageOf(spec) : undefined, new Set(['vitest']));
    const algo = pkg('@autoround/algo-rtn', ['@autoround/export-gguf', '@autoround/core']);
    expect(rules(algo, '@autoround/export-gguf')).toEqual(['an algorithm imports an exporter']);
    expect(rules(algo, '@autoround/core')).toEqual([]);
    expect(rules(pkg('@autoround/core-tensor', ['@autoround/core']), '@autoround/core').join()).toMatch(/core-tensor imports nothing of ours/);
    expect(rules(pkg('@autoround/export-gptq', ['@autoround/algo-rtn']), '@autoround/algo-rtn')).toEqual(['an exporter imports an algorithm']);
    expect(rules(pkg('@autoround/autoround', ['@autoround/models']), '@autoround/models').join()).toMatch(/host depends on core only/);
    expect(rules(pkg('@autoround/models', ['@autoround/algo-rtn']), '@autoround/algo-rtn').join()).toMatch(/a package above it/);
    expect(rules(algo, '../../export-autoround/src/index.js').join()).toMatch(/relative import leaves packages\/algo-rtn/);
    expect(rules(algo, '../../../tools/testing/fixtures.js', true).join()).toMatch(/relative import leaves/);
    expect(rules(algo, '@autoround/testing', true).join()).toMatch(/@autoround\/testing is not declared/);
    expect(rules({ ...algo, dev: new Set(['@autoround/testing']) }, '@autoround/testing', true)).toEqual([]);
    expect(rules({ ...algo, dev: new Set(['@autoround/testing']) }, '@autoround/testing', false).join()).toMatch(/not declared/);
    expect(rules(algo, 'hyparquet').join()).toMatch(/hyparquet is not declared/);
    expect(rules(algo, 'vitest', true)).toEqual([]);
    expect(rules(algo, 'node:fs')).toEqual([]);
    // and the scan reads real files
    expect(importsOf(join(REPO_ROOT, 'packages', 'core', 'src', 'registry.ts'), false).map((i) => i.spec)).toContain('@autoround/core-tensor');
  });
});
