// The activation flags and the 2-D --group_size as the original parses them (docs/algorithms/schemes.md#command-line-flags).
import { describe, expect, it } from 'vitest';
import { Registry } from '@autoround/core';
import { optionsFromArgs, parseArgs } from '../src/index.js';

const opts = (argv: string[]) => optionsFromArgs(parseArgs(argv), 'auto-round', new Registry());

describe('activation flags and 2-D group sizes', () => {
  it('--act_bits, --act_data_type/--act_dtype, --act_group_size, --act_asym, --disable_act_dynamic reach the options', () => {
    const o = opts(['--model', 'm', '--scheme', 'MXFP4', '--act_bits', '8', '--act_dtype', 'mx_fp_rceil', '--act_group_size', '32', '--act_asym', '--disable_act_dynamic']);
    expect(o).toMatchObject({ actBits: 8, actDataType: 'mx_fp_rceil', actGroupSize: 32, actSym: false, actDynamic: false });
    expect(opts(['--model', 'm', '--act_sym', '--act_dynamic'])).toMatchObject({ actSym: true, actDynamic: true });
  });
  it('--group_size 128,128 (or "(128, 128)") is the FP8 block shape; a plain integer stays a group size', () => {
    expect(opts(['--model', 'm', '--group_size', '128,128'])).toMatchObject({ groupShape: [128, 128] });
    expect(opts(['--model', 'm', '--group_size', '(128, 64)'])).toMatchObject({ groupShape: [128, 64] });
    const o = opts(['--model', 'm', '--group_size', '32']);
    expect(o.groupSize).toBe(32);
    expect(o.groupShape).toBeUndefined();
    expect(() => opts(['--model', 'm', '--group_size', '128,x'])).toThrow(/--group_size expects an integer .* or two for 2-D blocks/);
  });
});
