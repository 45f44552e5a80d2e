// Inputs found by tools/fuzz (npm run fuzz): each must be an AutoRoundError naming the field, not a TypeError.
import { describe, expect, it } from 'vitest';
import { isAutoRoundError } from '@autoround/core';
import { autoAwqExporter } from '../src/index.js';

describe('auto_awq folder reader', () => {
  for (const version of [-1, 0, null, ['gemm'], { v: 'gemm' }]) {
    it(`quantization_config.version ${JSON.stringify(version)} is refused, naming the field`, () => {
      let err: unknown;
      try {
        autoAwqExporter.read!('/nonexistent-awq-folder', { quantization_config: { quant_method: 'awq', bits: 4, group_size: 32, version } });
      } catch (e) {
        err = e;
      }
      expect(isAutoRoundError(err), String(err)).toBe(true);
      expect((err as Error).message).toBe(`/nonexistent-awq-folder: quantization_config.version ${JSON.stringify(version)}: this AWQ version cannot be read (only "gemm")`);
    });
  }
});
