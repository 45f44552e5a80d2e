import type { AlgorithmPlugin, QuantScheme } from '@autoround/core';
import { activationQdqOf, checkLayerSchemes } from '@autoround/algo-rtn';
import { hasFpOptRtn, isFpScheme } from '@autoround/quant-types';
import { normBiasReplacedTensors } from './norm-bias.js';
import { intQuantizer, usesAlgExt } from './quantizers/int.js';
import { runSignRound } from './tune.js';
import { signRoundRoute } from './route.js';
import { signRoundOptionDeclarations } from './options.js';

/**
 * SignRound (AutoRound's default algorithm): block by block, the rounding offsets V and the
 * min/max scales of every quantized linear are tuned by signed gradient descent so that the
 * quantized block reproduces the full-precision block's output on calibration data
 * (the loop: tune.ts, the int quantizer: quantizers/int.ts).
 */
export const signRoundAlgorithm: AlgorithmPlugin = {
  name: 'auto_round',
  aliases: ['autoround', 'sign_round', 'signround'],
  description: 'SignRound: sign-gradient tuning of rounding and min/max scales, block by block',
  needsCalibration: () => true,
  replacesTensors: normBiasReplacedTensors,
  // checkpoints after every block group (checkpointLoop) and continues from one (docs/resume.md)
  resumable: () => true,
  route: signRoundRoute,
  // the flags it reads, from which the CLI builds its options and help (docs/adr/0020-plugin-contract-v1.md)
  options: signRoundOptionDeclarations,
  activations: activationQdqOf,
  async run(session) {
    checkLayerSchemes(session);
    const quantizer = intQuantizer();
    await runSignRound(session, {
      ...quantizer,
      start(s, o) {
        if (o.enableAlgExt && ![...s.layerSchemes.values()].some((sc) => sc && algExtApplies(sc))) {
          s.log.warn('--enable_alg_ext changes symmetric int layers with groups and MX/NVFP4 layers only; this run has none, so it tunes as without it');
        }
      },
    });
  },
};

/** SignRoundV2 changes symmetric int layers with groups and the MX and NVFP4 layers (their searched initial scales). */
function algExtApplies(s: QuantScheme): boolean {
  return usesAlgExt(s) || (isFpScheme(s) && hasFpOptRtn(s));
}
