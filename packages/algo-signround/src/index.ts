import { type AlgorithmPlugin, definePlugin } from '@autoround/core';
import { optRtnAlgorithm } from './opt-rtn.js';
import { signRoundOptionDeclarations } from './options.js';
import { signRoundAlgorithm as signRoundLoop } from './signround.js';

export * from './blockwise.js';
export * from './opt-rtn.js';
export * from './signround.js';
export * from './loop.js';
export * from './norm-bias.js';
export * from './options.js';

/**
 * SignRound with the options it reads declared (options.ts); this export shadows signround.ts's, so
 * every user of the package gets the declarations.
 */
export const signRoundAlgorithm: AlgorithmPlugin = { ...signRoundLoop, options: signRoundOptionDeclarations };

export const signRoundPlugin = definePlugin({ name: '@autoround/algo-signround', algorithms: [signRoundAlgorithm, optRtnAlgorithm] });
export default signRoundPlugin;
