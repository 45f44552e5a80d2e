#!/usr/bin/env node
// Builds the native backend (build/Release/autoround_kernels.node) with node-gyp; with --bench-reference
// also build/Release/autoround_kernels_bench.node, the same kernels plus the OpenBLAS reference the gemm
// benchmark times them against (never shipped: it dlopens a system library). Runs as this
// package's `install` script, so it must never fail the install: without a compiler, headers or
// node-gyp it prints why and exits 0, and the wasm and js backends take over.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => console.warn(`@autoround/kernels-cpu: ${msg}`);

if (process.env.AUTOROUND_SKIP_NATIVE_BUILD) {
  say('AUTOROUND_SKIP_NATIVE_BUILD is set: native backend not built (wasm and js backends remain)');
  process.exit(0);
}

// node-gyp: npm hands install scripts its bundled copy (npm_config_node_gyp); run by hand, the copy
// bundled with the npm beside this node; else one on PATH.
const prefix = join(dirname(process.execPath), '..');
const gypJs = [
  process.env.npm_config_node_gyp,
  join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].find((f) => f && existsSync(f));
const [cmd, pre] = gypJs ? [process.execPath, [gypJs]] : ['node-gyp', []];

// Offline machines: build against the headers installed beside this node (e.g. /usr/include/node)
// instead of letting node-gyp download them, unless a nodedir is configured already.
const nodedir = !process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];

// `configure` + `build` rather than `rebuild`: no clean first, so an addon that is already built stays
// loadable while this runs (other processes may be using it) and unchanged sources are not recompiled.
const started = Date.now();
const run = (args) => spawnSync(cmd, [...pre, ...args], { cwd: pkg, stdio: ['ignore', 'pipe', 'pipe'], shell: process.platform === 'win32' && cmd === 'node-gyp' });
// node-gyp hands unknown --name=value options to gyp as variables (binding.gyp's bench_reference)
const bench = process.argv.includes('--bench-reference') ? ['--bench_reference=1'] : [];
let r = run(['configure', ...nodedir, ...bench]);
if (r.status === 0) r = run(['build', ...nodedir]);
const secs = ((Date.now() - started) / 1000).toFixed(1);
if (r.status === 0 && existsSync(join(pkg, 'build', 'Release', 'autoround_kernels.node'))) {
  say(`native backend built in ${secs}s (build/Release/autoround_kernels.node)`);
} else {
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-12).join('\n');
  say(`native backend unavailable (node-gyp ${r.error ? `could not start: ${r.error.message}` : `exited ${r.status}`}); the wasm and js backends still work.\n${out}`);
}
process.exit(0);
