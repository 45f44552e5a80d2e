// The host picks the algorithm from the algorithms' declarations (AlgorithmRouting in core):
// `replacesRtn` for --iters 0, `route` for a tuning run. It knows no quantization type itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { definePlugin, memoryLogger, type AlgorithmPlugin } from '@autoround/core';
import rtnPlugin from '@autoround/algo-rtn';
import exportAutoRoundPlugin from '@autoround/export-autoround';
import kernelsCpuPlugin from '@autoround/kernels-cpu';
import modelsPlugin from '@autoround/models';
import { AutoRound, writeDemoModel } from '../src/index.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());
const model = join(work.dir, 'model');
writeDemoModel(model, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
const base = [modelsPlugin, rtnPlugin, exportAutoRoundPlugin, kernelsCpuPlugin];
const rtn = rtnPlugin.algorithms![0]!;

const router: AlgorithmPlugin = {
  name: 'router',
  description: 'hands every tuning run to RTN',
  needsCalibration: () => false,
  route: ({ options }) => (options.iters > 0 ? { algorithm: 'rtn', label: 'router (as RTN)', quantArgs: { enable_minmax_tuning: false } } : undefined),
  run: async () => {
    throw new Error('routed away: never runs');
  },
};
const replacer: AlgorithmPlugin = { ...rtn, name: 'my-opt-rtn', aliases: [], replacesRtn: (s) => s.bits === 4 };

describe('algorithm routing declarations', () => {
  it('a tuning run goes where the asked algorithm routes it, with the label and the quantization_config entries of the route', async () => {
    const log = memoryLogger();
    const ar = new AutoRound(model, { scheme: 'W4A16', groupSize: 32, iters: 5, algorithm: 'router', log, discoverPlugins: false, builtinPlugins: base, plugins: [definePlugin({ name: 'router-plugin', algorithms: [router] })], skipSanityCheck: true });
    await ar.quantizeAndSave(join(work.dir, 'routed'), { format: 'auto_round' });
    expect(log.lines.some((l) => /with router \(as RTN\)/.test(l))).toBe(true);
    const qc = JSON.parse(readFileSync(join(work.dir, 'routed', 'config.json'), 'utf8')).quantization_config;
    expect(qc.enable_minmax_tuning).toBe(false);
    expect(qc.enable_quanted_input).toBe(true);
  });

  it('an --iters 0 run takes the algorithm that declares it replaces RTN for the scheme (not for another scheme, nor with disableOptRtn)', async () => {
    const plugins = [definePlugin({ name: 'replacer-plugin', algorithms: [replacer] })];
    const pick = async (scheme: string, disableOptRtn = false) => {
      const log = memoryLogger();
      const ar = new AutoRound(model, { scheme, groupSize: 32, iters: 0, disableOptRtn, log, discoverPlugins: false, builtinPlugins: base, plugins, skipSanityCheck: true });
      await ar.quantizeAndSave(join(work.dir, `${scheme}-${disableOptRtn}`), { format: 'auto_round' });
      return /with (\S+),/.exec(log.lines.find((l) => /^.*quantizing \S+ from/.test(l)) ?? '')?.[1];
    };
    expect(await pick('W4A16')).toBe('my-opt-rtn');
    expect(await pick('W8A16')).toBe('rtn');
    expect(await pick('W4A16', true)).toBe('rtn');
  });
});
