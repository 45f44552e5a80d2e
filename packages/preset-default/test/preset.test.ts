import { describe, expect, it } from 'vitest';
import { Registry } from '@autoround/core';
import { basePlugins, defaultPlugins } from '../src/index.js';

describe('@autoround/preset-default', () => {
  it('provides what the CLI defaults need: SignRound, GGUF, the calibration datasets, on top of the base set', () => {
    const r = new Registry().use([...defaultPlugins], { source: 'builtin' });
    expect(r.algorithms.map((a) => a.name)).toEqual(expect.arrayContaining(['rtn', 'auto_round', 'opt-rtn']));
    expect(r.exporters.map((e) => e.name)).toEqual(expect.arrayContaining(['auto_round', 'auto_gptq', 'auto_awq', 'llm_compressor', 'gguf', 'onnx']));
    expect(defaultPlugins.slice(0, basePlugins.length)).toEqual(basePlugins);
    expect(defaultPlugins.map((p) => p.name)).toContain('@autoround/calib-datasets');
    expect(r.planner('--avg_bits').name).toBe('autoscheme');
  });
});
