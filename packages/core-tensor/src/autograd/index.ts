export { Graph, Var, geluTanh, type RopeOptions, type MseOptions, type CustomOp, type OpBuffers } from './graph.js';
export { Param } from './param.js';
export { type AttentionOptions } from './attention.js';
