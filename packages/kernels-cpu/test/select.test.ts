// Backend selection: automatic (highest priority that can run), forced by name through the
// registry or by AUTOROUND_BACKEND, and the one log line naming the choice.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry, memoryLogger } from '@autoround/core';
import { isAutoRoundError } from '@autoround/core-tensor';
import plugin, { loadNativeAddon, nativeBackend, setKernelLogger, wasmBackend } from '../src/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const saved = process.env.AUTOROUND_BACKEND;
afterEach(() => {
  if (saved === undefined) delete process.env.AUTOROUND_BACKEND;
  else process.env.AUTOROUND_BACKEND = saved;
  setKernelLogger(null);
});

describe('backend selection', () => {
  it('registers native (100), wasm (50) and js (0)', () => {
    expect(plugin.kernels!.map((k) => [k.name, k.priority])).toEqual([
      ['native', 100],
      ['wasm', 50],
      ['js', 0],
    ]);
    expect(plugin.kernels![2]!.available()).toBe(true);
  });

  it('picks the highest-priority backend that can run, with one log line naming it', () => {
    delete process.env.AUTOROUND_BACKEND;
    const log = memoryLogger();
    setKernelLogger(log);
    const reg = new Registry().use(plugin);
    const expected = nativeBackend.available() ? 'native' : wasmBackend.available() ? 'wasm' : 'js';
    const b = reg.kernelBackend();
    expect(b.name).toBe(expected);
    reg.kernelBackend(); // same backend again: no second line
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(new RegExp(`^kernel backend: ${expected} \\(`));
  });

  it('is forced by name through kernelBackend({ forced })', () => {
    delete process.env.AUTOROUND_BACKEND;
    setKernelLogger(null);
    const reg = new Registry().use(plugin);
    expect(reg.kernelBackend({ forced: 'js' }).name).toBe('js');
    if (wasmBackend.available()) expect(reg.kernelBackend({ forced: 'wasm' }).name).toBe('wasm');
    if (nativeBackend.available()) expect(reg.kernelBackend({ forced: 'native', threads: 1 }).threads).toBe(1);
    let err: unknown;
    try {
      reg.kernelBackend({ forced: 'cuda' });
    } catch (e) {
      err = e;
    }
    expect(isAutoRoundError(err) && err.code).toBe('E_BAD_FLAG');
  });

  it('is forced by AUTOROUND_BACKEND', () => {
    setKernelLogger(null);
    const reg = new Registry().use(plugin);
    for (const name of ['js', 'wasm', 'native']) {
      if (name === 'native' && !nativeBackend.available()) continue;
      process.env.AUTOROUND_BACKEND = name;
      expect(reg.kernelBackend().name).toBe(name);
    }
  });

  it('AUTOROUND_BACKEND works in a fresh process, which logs the choice once on stderr', () => {
    const script = [
      "import { Registry } from '@autoround/core';",
      "import plugin from '@autoround/kernels-cpu';",
      'const reg = new Registry().use(plugin);',
      'const b = reg.kernelBackend(); reg.kernelBackend();',
      'const c = new Float32Array(4); b.gemm(false, false, 2, 2, 2, Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 0, 0, 1), c);',
      'console.log(JSON.stringify({ name: b.name, c: [...c] }));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      env: { ...process.env, AUTOROUND_BACKEND: 'wasm' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ name: 'wasm', c: [1, 2, 3, 4] });
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('kernel backend:'));
    expect(lines).toEqual(['kernel backend: wasm (simd128, 1 thread), forced by AUTOROUND_BACKEND']);
  });

  it('native is unavailable when the addon cannot load, with the reason', () => {
    const r = loadNativeAddon(join(repoRoot, 'no-such-dir', 'autoround_kernels.node'));
    expect('error' in r && r.error).toMatch(/not built/);
  });
});
