import { describe, expect, it } from 'vitest';
import {
  type AlgorithmPlugin,
  type AutoRoundPlugin,
  definePlugin,
  type ExporterPlugin,
  memoryLogger,
  type PackingPlugin,
  Registry,
} from '../src/index.js';
import { PLUGIN_API_VERSION } from '../src/plugin.js';

const algo = (name: string, description: string): AlgorithmPlugin => ({ name, description, needsCalibration: () => false, run: async () => {} });
const exporter = (name: string, description: string, extra: Partial<ExporterPlugin> = {}): ExporterPlugin => ({
  name,
  description,
  check: () => null,
  open: () => ({ writeQuantized() {}, writeTensor() {}, finish() {} }),
  ...extra,
});

describe('plugin contract v1', () => {
  it('definePlugin fills apiVersion', () => {
    expect(definePlugin({ name: 'p' }).apiVersion).toBe(PLUGIN_API_VERSION);
    expect(PLUGIN_API_VERSION).toBe(1);
  });

  it('refuses a plugin of another major version, naming it and the version it needs', () => {
    const log = memoryLogger();
    const future = { name: 'autoround-plugin-future', apiVersion: 2, algorithms: [algo('future', 'x')] } as AutoRoundPlugin;
    const old = { name: 'autoround-plugin-old', algorithms: [algo('old', 'x')] } as unknown as AutoRoundPlugin;
    const r = new Registry({ log }).use([future, old]);
    expect(r.plugins).toEqual([]);
    expect(() => r.algorithm('future')).toThrow(/unknown algorithm/);
    expect(log.lines.join('\n')).toMatch(/plugin autoround-plugin-future needs plugin API version 2; this @autoround\/core implements version 1: not loaded/);
    expect(log.lines.join('\n')).toMatch(/plugin autoround-plugin-old needs plugin API a version before 1/);
  });
});

describe('precedence: explicit > discovered > built-in', () => {
  const builtin = definePlugin({ name: '@autoround/algo-rtn', algorithms: [algo('rtn', 'built-in')] });
  const discovered = definePlugin({ name: 'autoround-plugin-rtn2', algorithms: [algo('rtn', 'discovered')] });
  const mine = definePlugin({ name: 'my-rtn', algorithms: [algo('rtn', 'mine')] });

  it('whatever the call order, the higher source wins, with a warning naming both packages', () => {
    const log = memoryLogger();
    const r = new Registry({ log });
    r.use(builtin, { source: 'builtin' }).use(discovered, { source: 'discovered' }).use(mine, { source: 'explicit' });
    expect(r.algorithm('rtn').description).toBe('mine');
    const text = log.lines.join('\n');
    expect(text).toMatch(/algorithm "rtn" is provided by my-rtn \(explicit\) and autoround-plugin-rtn2 \(discovered\); using my-rtn's/);
    expect(text).toMatch(/algorithm "rtn" is provided by my-rtn \(explicit\) and @autoround\/algo-rtn \(builtin\); using my-rtn's/);
    expect(r.plugins.map((p) => p.name)).toEqual(['my-rtn', 'autoround-plugin-rtn2', '@autoround/algo-rtn']);
  });

  it('a discovered plugin wins over a built-in one', () => {
    const log = memoryLogger();
    const r = new Registry({ log }).use(builtin, { source: 'builtin' }).use(discovered, { source: 'discovered' });
    expect(r.algorithm('rtn').description).toBe('discovered');
    expect(log.lines).toHaveLength(1);
  });

  it('within one source the first wins; a plugin of the same name is used once, from the higher source', () => {
    const log = memoryLogger();
    const r = new Registry({ log }).use(builtin, { source: 'builtin' }).use(definePlugin({ name: '@autoround/algo-rtn', algorithms: [algo('rtn', 'user copy')] }));
    expect(r.plugins).toHaveLength(1);
    expect(r.algorithm('rtn').description).toBe('user copy');
    expect(log.lines).toEqual([]);
  });
});

describe('contributions', () => {
  it('an exporter receives the packings contributed for it', () => {
    const base: ExporterPlugin = exporter('auto_round', 'base', {
      withPackings(packings) {
        return { ...base, description: `with ${packings.map((p) => p.name).join(',')}` };
      },
    });
    const packing: PackingPlugin = { exporter: 'auto_round', name: 'auto_round:x', check: () => null, open: () => ({ writeQuantized() {}, writeTensor() {}, finish() {} }), read: () => ({ has: () => false, readFloat32: () => { throw new Error('none'); } }) };
    const other: PackingPlugin = { ...packing, exporter: 'gguf', name: 'gguf:y' };
    const r = new Registry({ log: memoryLogger() }).use(definePlugin({ name: 'a', exporters: [base] })).use(definePlugin({ name: 'b', packings: [packing, other] }));
    expect(r.exporter('auto_round:x').description).toBe('with auto_round:x');
    expect(r.packings.map((p) => p.name)).toEqual(['auto_round:x', 'gguf:y']);
  });

  it('subcommands are looked up by name', () => {
    const r = new Registry({ log: memoryLogger() }).use(definePlugin({ name: 'c', commands: [{ name: 'hello', usage: 'NAME', description: 'greets', run: (args, io) => io.out(`hi ${args[0]}`) }] }));
    const out: string[] = [];
    r.command('hello')?.run(['you'], { out: (l) => out.push(l), err: () => {} });
    expect(out).toEqual(['hi you']);
    expect(r.command('nope')).toBeUndefined();
  });
});

describe('what the host asks the registry for instead of importing it', () => {
  const evaluator = (name: string) => ({ name, evalWindows: () => [], windowNll: () => 0, perplexity: () => ({ perplexity: 1, nll: 0, tokens: 0, windows: 0 }), klDivergence: () => ({ kld: 0, sameTop: 1, tokens: 0, perplexity: 1, referencePerplexity: 1, windows: 0 }) });

  it('evaluators are a contribution; none installed is E_NOT_INSTALLED naming @autoround/eval', () => {
    const r = new Registry({ log: memoryLogger() });
    expect(() => r.evaluator('perplexity (--eval_ppl)')).toThrow(expect.objectContaining({ code: 'E_NOT_INSTALLED', message: expect.stringMatching(/perplexity \(--eval_ppl\) needs @autoround\/eval/) }));
    r.use(definePlugin({ name: 'eval-a', evaluators: [evaluator('a')] }));
    expect(r.evaluator('x').name).toBe('a');
  });

  it('scheme planners are a contribution; none installed is E_NOT_INSTALLED naming @autoround/autoscheme and the flag', () => {
    const r = new Registry({ log: memoryLogger() });
    expect(() => r.planner('--avg_bits')).toThrow(expect.objectContaining({ code: 'E_NOT_INSTALLED', subject: '--avg_bits', message: expect.stringMatching(/^--avg_bits \(AutoScheme\) needs @autoround\/autoscheme/) }));
    const planner = (name: string) => ({ name, description: name, plan: () => Promise.reject(new Error('unused')) });
    r.use(definePlugin({ name: 'plan-b', planners: [planner('b')] }), { source: 'discovered' });
    r.use(definePlugin({ name: 'plan-a', planners: [planner('a')] }));
    expect(r.planner('x').name).toBe('a');
    expect(r.planners.map((p) => p.name)).toEqual(['a', 'b']);
  });

  it('no architecture plugin at all is E_NOT_INSTALLED naming @autoround/models; an unknown one among others E_UNKNOWN_ARCH', () => {
    const r = new Registry({ log: memoryLogger() });
    expect(() => r.architecture('LlamaForCausalLM', 'm/config.json')).toThrow(expect.objectContaining({ code: 'E_NOT_INSTALLED', message: expect.stringMatching(/@autoround\/models/) }));
    r.use(definePlugin({ name: 'arch', architectures: [{ name: 'x', hfArchitectures: ['XForCausalLM'], describe: () => { throw new Error('unused'); }, load: () => { throw new Error('unused'); } }] }));
    expect(() => r.architecture('LlamaForCausalLM', 'm/config.json')).toThrow(expect.objectContaining({ code: 'E_UNKNOWN_ARCH' }));
  });
});
