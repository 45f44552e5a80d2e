#!/usr/bin/env node
// Installs the host without a preset into a fresh project, from `npm pack` tarballs of the
// workspace's built packages (run `npm run build` first), and checks issue 14's "done when":
// 1. @autoround/autoround + @autoround/export-autoround: `npm ls --all` lists no GGUF, SignRound or
//    hub package, and the host registers nothing by itself (a run fails naming what to install);
// 2. plus the minimal extras RTN needs (@autoround/models for the architecture, @autoround/algo-rtn,
//    @autoround/kernels-cpu; the sanity probe is skipped without @autoround/eval): `new AutoRound(model, { scheme: 'W4A16', iters: 0 }).quantizeAndSave(dir,
//    { format: 'auto_round' })` works, with the plugins found by discovery (none passed).
// Usage: node tools/pack/host-only.mjs [--keep]   (exit 1 on a failed check)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(new URL('../..', import.meta.url).pathname);
const work = mkdtempSync(join(tmpdir(), 'autoround-host-only-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
const t0 = Date.now();
const sh = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
let failed = false;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed = true;
};

// what the host and export-autoround need, and what an RTN run needs on top
// (export-autoround reads the data-type table, @autoround/quant-types, for its floating-point layouts; issue #15)
const hostSet = ['core-tensor', 'core', 'autoround', 'export-gptq', 'quant-types', 'export-autoround'];
// algo-rtn's codecs (int and GGUF) come from @autoround/quant-types too
const rtnSet = ['models', 'algo-rtn', 'kernels-cpu'];
sh('npm', ['pack', '--silent', '--pack-destination', tarballs, ...[...hostSet, ...rtnSet].flatMap((p) => ['-w', `@autoround/${p}`])], root);
// autoround-<name>-<version>.tgz (the name alone: export-gptq is no prefix match of export-gguf's file)
const tgz = (p) => join(tarballs, readdirSync(tarballs).find((f) => new RegExp(`^autoround-${p}-\\d`).test(f)));

function project(name, pkgs) {
  const dir = join(work, name);
  mkdirSync(dir);
  const dependencies = Object.fromEntries(pkgs.map((p) => [`@autoround/${p}`, `file:${tgz(p)}`]));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module', dependencies }, null, 2));
  // --ignore-scripts: kernels-cpu's native addon is not built (its wasm/js backends run)
  sh('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], dir);
  return dir;
}

// 1. the host and one exporter
const a = project('host-only', hostSet);
const tree = sh('npm', ['ls', '--all'], a);
console.log(tree.trim());
check(!/gguf|signround|hub|preset/i.test(tree), 'npm ls --all lists no GGUF, SignRound, hub or preset package');
check(!/@autoround\/(models|eval)@/.test(tree), 'npm ls --all lists neither @autoround/models nor @autoround/eval (the host depends on core only)');
const runScript = `
import { AutoRound, writeDemoModel, silentLogger } from '@autoround/autoround';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
const dir = mkdtempSync(join(process.cwd(), 'run-'));
const model = join(dir, 'model');
writeDemoModel(model, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
try {
  const r = await new AutoRound(model, { scheme: 'W4A16', groupSize: 32, iters: 0, log: silentLogger }).quantizeAndSave(join(dir, 'out'), { format: 'auto_round' });
  console.log('RESULT ok', r.quantizedLayers, 'layers', r.outputs.map((o) => o.format).join(','));
} catch (e) {
  console.log('RESULT error', e.code, e.message);
}
`;
writeFileSync(join(a, 'run.mjs'), runScript);
const outA = sh('node', ['run.mjs'], a).trim();
console.log(outA);
check(/^RESULT error E_NOT_INSTALLED .*@autoround\/models/m.test(outA), 'without an architecture plugin a run fails naming the package to install (the host registers nothing by itself)');

// 2. plus the minimal RTN extras, found by discovery
const b = project('host-rtn', [...hostSet, ...rtnSet]);
writeFileSync(join(b, 'run.mjs'), runScript);
const outB = sh('node', ['run.mjs'], b).trim();
console.log(outB);
const treeB = sh('npm', ['ls', '--all'], b);
check(!/export-gguf|signround|hub|preset/i.test(treeB), 'with the RTN extras, npm ls --all still lists no GGUF exporter, SignRound, hub or preset package');
check(/^RESULT ok \d+ layers auto_round$/m.test(outB), "new AutoRound(model, { scheme: 'W4A16', iters: 0 }).quantizeAndSave(dir, { format: 'auto_round' }) works with models, algo-rtn and kernels-cpu installed (discovered; no eval: the sanity probe is skipped)");
console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s, in ${work}`);
if (!process.argv.includes('--keep')) rmSync(work, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
