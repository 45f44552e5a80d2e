// Issue #14 item 5: an algorithm declares its options (AlgorithmPlugin.options) and the CLI generates
// their flags and help from the installed algorithms; a third-party algorithm's option named with
// --plugin is listed by --help, parsed, range-checked and handed to the algorithm in QuantizeOptions.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoModel } from './demo-model.js';
import { runCli as run } from './run-cli.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());
const cwd = process.cwd();
afterEach(() => process.chdir(cwd));

const { demo } = demoModel(work.dir);
const record = join(work.dir, 'knob-saw.json');

// a plugin package installed in the project (work.dir), self-contained (no workspace import): its
// "quantization" keeps each weight as it is, and it records the options it was handed
beforeAll(() => {
  const dir = join(work.dir, 'node_modules', 'autoround-plugin-knob');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'autoround-plugin-knob', version: '1.0.0', type: 'module', main: 'index.js', autoround: { plugin: true } }));
  writeFileSync(
    join(dir, 'index.js'),
    `import { writeFileSync } from 'node:fs';
const options = [
  { name: 'knobSteps', flag: 'knob_steps', aliases: ['knobs'], type: 'integer', default: 3, help: 'how far the knob turns', range: { min: 1, max: 10 } },
  { name: 'knobOn', flag: 'knob_on', type: 'boolean', default: true, help: 'turn the knob', negation: { flag: 'knob_off', help: 'leave the knob alone' } },
];
const knob = {
  name: 'knob',
  description: 'keeps the weights, with a knob',
  options,
  needsCalibration: () => false,
  async run(session) {
    writeFileSync(${JSON.stringify(record)}, JSON.stringify({ knobSteps: session.options.knobSteps, knobOn: session.options.knobOn }));
    for (const [name, scheme] of session.layerSchemes) {
      if (!scheme) continue;
      const w = session.checkpoint.readFloat32(name + '.weight');
      session.emit(name, { scheme, shape: [w.shape[0], w.shape[1]], groupSize: w.shape[1], qdq: w.data });
    }
  },
};
export default { name: 'autoround-plugin-knob', apiVersion: 1, algorithms: [knob] };
`,
  );
  // an algorithm declaring a flag the host has
  const clash = join(work.dir, 'node_modules', 'autoround-plugin-clash');
  mkdirSync(clash, { recursive: true });
  writeFileSync(join(clash, 'package.json'), JSON.stringify({ name: 'autoround-plugin-clash', version: '1.0.0', type: 'module', main: 'index.js', autoround: { plugin: true } }));
  writeFileSync(
    join(clash, 'index.js'),
    `export default { name: 'autoround-plugin-clash', apiVersion: 1, algorithms: [{ name: 'clash', description: 'declares --iters', needsCalibration: () => false, run() {},
  options: [{ name: 'clashIters', flag: 'iters', type: 'integer', help: 'not the host iters' }] }] };
`,
  );
});

describe('algorithm options as flags', () => {
  it("--help lists SignRound's options under the algorithm that declares them, with their defaults", async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/options of algorithm auto_round:\n(\s+--\w+.*\n)*\s+--nblocks\s+consecutive blocks tuned together as one \(default 1\)/);
    expect(r.out).toMatch(/--enable_minmax_tuning\s+tune min\/max scales \(default on\)\n\s+--disable_minmax_tuning\s+do not tune min\/max scales/);
    // the host's flags come first, outside any algorithm's section
    expect(r.out.indexOf('--iters')).toBeLessThan(r.out.indexOf('options of algorithm'));
    expect(r.out).not.toMatch(/--dynamic_max_gap/);
  });

  it("a third-party algorithm's flags exist only with its plugin", async () => {
    process.chdir(work.dir);
    const help = await run(['--help', '--plugin', 'autoround-plugin-knob']);
    expect(help.code, help.err).toBe(0);
    expect(help.out).toMatch(/options of algorithm knob:\n\s+--knob_steps\s+how far the knob turns \(default 3\)\n\s+--knob_on\s+turn the knob \(default on\)\n\s+--knob_off\s+leave the knob alone/);
    const without = await run(['--model', demo, '--knob_steps', '2']);
    expect(without.code).toBe(1);
    expect(without.err).toMatch(/error: unknown flag --knob_steps/);
  });

  it("a declaration that takes another flag is left out with a warning; the host's flag stays", async () => {
    process.chdir(work.dir);
    const r = await run(['--help', '--plugin', 'autoround-plugin-clash']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/--iters of algorithm clash \(option clashIters\) is already a flag \(the host's\): left out/);
    expect(r.out).toMatch(/--iters\s+tuning iterations; 0 selects RTN/);
    expect(r.out).not.toMatch(/not the host iters/);
  });

  it('parses it (alias and negation too), checks its range and hands it to the algorithm in QuantizeOptions', async () => {
    process.chdir(work.dir);
    const base = ['--model', demo, '--plugin', 'autoround-plugin-knob', '--algorithm', 'knob', '--iters', '1', '--group_size', '32', '--format', 'fake', '--skip_sanity_check'];
    const bad = await run([...base, '--output_dir', join(work.dir, 'out-bad'), '--knob_steps', '11']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^error: --knob_steps must be an integer ≥ 1 and ≤ 10, got 11$/m);
    expect(existsSync(record)).toBe(false);
    const ok = await run([...base, '--output_dir', join(work.dir, 'out-ok'), '--knobs', '7', '--knob_off']);
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(readFileSync(record, 'utf8'))).toEqual({ knobSteps: 7, knobOn: false });
  });
});
