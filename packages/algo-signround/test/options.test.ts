// SignRound declares the options it reads (src/options.ts): the CLI generates their flags from the
// declarations, and the host and the CLI check values against their ranges (docs/options.md).
import { describe, expect, it } from 'vitest';
import { checkAlgorithmOption, declaredOptions, isAutoRoundError } from '@autoround/core';
import signRoundPlugin, { signRoundAlgorithm, signRoundOptionDeclarations } from '../src/index.js';

const decl = (name: string) => {
  const d = signRoundOptionDeclarations.find((o) => o.name === name);
  if (!d) throw new Error(`no declaration of ${name}`);
  return d;
};

function errorOf(fn: () => unknown): { message: string; subject: string | undefined } {
  try {
    fn();
  } catch (e) {
    expect(isAutoRoundError(e), String(e)).toBe(true);
    return e as { message: string; subject: string | undefined };
  }
  throw new Error('expected an error');
}

describe('SignRound option declarations', () => {
  it('are attached to the auto_round algorithm of the plugin', () => {
    expect(signRoundAlgorithm.options).toBe(signRoundOptionDeclarations);
    const names = declaredOptions(signRoundPlugin.algorithms ?? []).map((d) => d.option.name);
    expect(names).toEqual(expect.arrayContaining(['lr', 'minmaxLr', 'gradientAccumulateSteps', 'nblocks', 'momentum', 'enableAdam', 'enableLfq', 'enableNormBiasTuning', 'enableAlgExt', 'dynamicMaxGap']));
  });

  // each value silently cancelled or changed the work before issue #13 item 12
  const bad: [string, unknown, RegExp][] = [
    ['gradientAccumulateSteps', 0, /^gradientAccumulateSteps must be an integer ≥ 1/],
    ['lr', -1, /^lr must be a number > 0 and finite, got -1$/],
    ['lr', Number.POSITIVE_INFINITY, /^lr must be a number > 0 and finite/],
    ['minmaxLr', 0, /^minmaxLr must be a number > 0/],
    ['nblocks', 0, /^nblocks must be an integer ≥ 1/],
    ['nblocks', 1.5, /^nblocks must be an integer/],
    ['momentum', 1, /^momentum must be a number ≥ 0 and < 1, got 1$/],
    ['momentum', Number.NaN, /^momentum must be a number ≥ 0 and < 1, got NaN$/],
    ['dynamicMaxGap', 2e6, /^dynamicMaxGap must be an integer ≥ -1000000 and ≤ 1000000/],
    ['enableAdam', 'yes', /^enableAdam must be true or false, got "yes"$/],
  ];
  for (const [name, value, message] of bad) {
    it(`${name}: ${String(value)} is an error naming the option`, () => {
      const e = errorOf(() => checkAlgorithmOption(decl(name), value));
      expect(e.message).toMatch(message);
      expect(e.subject).toBe(name);
    });
  }

  it('the CLI naming names the flag; dynamicMaxGap (API only) keeps its option name', () => {
    expect(errorOf(() => checkAlgorithmOption(decl('gradientAccumulateSteps'), 0, 'flag')).message).toBe('--gradient_accumulate_steps must be an integer ≥ 1 and ≤ 1000000, got 0');
    expect(errorOf(() => checkAlgorithmOption(decl('dynamicMaxGap'), 0.5, 'flag')).subject).toBe('dynamicMaxGap');
  });

  it('accepts the defaults and the ends of the ranges', () => {
    for (const d of signRoundOptionDeclarations) {
      if (d.default !== undefined) expect(() => checkAlgorithmOption(d, d.default), d.name).not.toThrow();
    }
    expect(() => checkAlgorithmOption(decl('momentum'), 0)).not.toThrow();
    expect(() => checkAlgorithmOption(decl('momentum'), 0.999)).not.toThrow();
    expect(() => checkAlgorithmOption(decl('lr'), 1e-9)).not.toThrow();
  });
});
