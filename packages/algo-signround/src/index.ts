import { definePlugin } from '@autoround/core';
import { optRtnAlgorithm } from './opt-rtn.js';

export * from './blockwise.js';
export * from './opt-rtn.js';

export const signRoundPlugin = definePlugin({ name: '@autoround/algo-signround', algorithms: [optRtnAlgorithm] });
export default signRoundPlugin;
