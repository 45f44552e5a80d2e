import { definePlugin, type TaskEvaluatorPlugin } from '@autoround/core';
import { parseTasks, runTasks, TASK_NAMES } from './run.js';

export { bootstrapStderr, encodePair, meanStderr, perplexityOf, parseTasks, pooledStderr, pySample, runTasks, TASK_NAMES, type RunTasksOptions } from './run.js';
export { commonPrefix, Scorer, type ScoreRequest, type ScoreResult } from './score.js';
export { hellaswagPreprocess, MMLU_SUBJECTS, pyCapitalize, TASKS, type Doc, type Instance, type Metric, type TaskDef } from './tasks.js';
export { llamaCppLine, Mt19937, parseLlamaCppHellaswag, selectLlamaCppTasks, uniformBelow, type LlamaCppHellaswagTask } from './llamacpp.js';
export { readTaskFile, type LoadedDocs } from './data.js';
export { binomialHalfCdf, pairedDifferences, parseSamples, type PairedDifference } from './paired.js';

/** `auto-round eval --tasks` as the host finds it: through the registry (docs/eval/tasks.md). */
export const taskEvaluator: TaskEvaluatorPlugin = {
  name: 'tasks',
  tasks: TASK_NAMES,
  parse: parseTasks,
  run: (model, tokenizer, tasks, options) => runTasks(model, tokenizer, tasks, options),
};

export const evalTasksPlugin = definePlugin({ name: '@autoround/eval-tasks', taskEvaluators: [taskEvaluator] });
export default evalTasksPlugin;
