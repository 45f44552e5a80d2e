// The tasks, as lm-evaluation-harness defines them (docs/eval/tasks.md has each one's definition and source):
// how a document becomes a context and the choices' continuations, which choice is right, which metrics.
import { AutoRoundError } from '@autoround/core-tensor';

export type Doc = Readonly<Record<string, unknown>>;

/** One document as scored: per choice a context and a continuation; `lengths` for acc_norm. */
export interface Instance {
  /** The context of each choice (the same for all but WinoGrande's, whose choices are contexts). */
  readonly contexts: readonly string[];
  /** The continuation scored for each choice (the target delimiter included). */
  readonly continuations: readonly string[];
  readonly gold: number;
  /** Characters of each choice's text (acc_norm divides the log-likelihood by it); absent when the task has no acc_norm. */
  readonly lengths?: readonly number[];
}

export type Metric = 'acc' | 'acc_norm' | 'perplexity';

export interface HubSource {
  readonly repo: string;
  readonly config?: string;
  readonly split: string;
  /** Where few-shot examples come from (sampled with the seed, or the first K for `fewshotFirstN`). */
  readonly fewshotSplit?: string;
}

export interface TaskDef {
  readonly name: string;
  readonly hub: HubSource;
  /** Fields a document must have (a local file without one is refused naming it). */
  readonly fields: readonly string[];
  readonly metrics: readonly Metric[];
  /** A document as a scored instance. */
  instance(doc: Doc): Instance;
  /** The text a document adds as a few-shot example (its context, the delimiter and its right answer). */
  shot(doc: Doc): string;
  /** Prepended once before the examples (MMLU's subject line). */
  description?(doc: Doc): string;
  /** Few-shot examples are the first K of the few-shot split (of the document's subject), not a seeded sample. */
  readonly fewshotFirstN?: boolean;
  /** The group a document counts in besides the task (MMLU's four categories). */
  group?(doc: Doc): string;
}

/** A field of a document, checked. */
export function field<T extends 'string' | 'number' | 'array'>(doc: Doc, name: string, kind: T, where = 'document'): T extends 'string' ? string : T extends 'number' ? number : unknown[] {
  const v = doc[name];
  const ok = kind === 'array' ? Array.isArray(v) : kind === 'number' ? typeof v === 'number' || (typeof v === 'bigint') : typeof v === kind;
  if (!ok) throw new AutoRoundError('E_DATASET_RECORD', `${where}: field "${name}" ${v === undefined ? 'is missing' : `should be a ${kind}, got ${JSON.stringify(v)}`}`, { subject: name });
  return (typeof v === 'bigint' ? Number(v) : v) as never;
}

function strings(doc: Doc, name: string): string[] {
  const a = field(doc, name, 'array');
  if (!a.every((s) => typeof s === 'string')) throw new AutoRoundError('E_DATASET_RECORD', `document: field "${name}" should be a list of strings`, { subject: name });
  return a as string[];
}

/** A label given as a number or a numeric string ("3"), as the hub's schemas store them. */
function intField(doc: Doc, name: string): number {
  const v = doc[name];
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new AutoRoundError('E_DATASET_RECORD', `document: field "${name}" ${v === undefined ? 'is missing' : `should be an integer, got ${JSON.stringify(v)}`}`, { subject: name });
  return n;
}

function goldIn(n: number, count: number, name: string): number {
  if (n < 0 || n >= count) throw new AutoRoundError('E_DATASET_RECORD', `document: field "${name}" is ${n}, outside the ${count} choices`, { subject: name });
  return n;
}

/** A multiple-choice instance: one context, each choice after the target delimiter " ". */
function mc(context: string, choices: readonly string[], gold: number, norm = true): Instance {
  return { contexts: choices.map(() => context), continuations: choices.map((c) => ` ${c}`), gold, ...(norm ? { lengths: choices.map((c) => [...c].length) } : {}) };
}

/** HellaSwag's text clean-up (harness hellaswag/utils.py preprocess). */
export function hellaswagPreprocess(text: string): string {
  let t = text.trim();
  t = t.replaceAll(' [title]', '. ');
  t = t.replace(/\[.*?\]/g, '');
  t = t.replaceAll('  ', ' ');
  return t;
}

/** Python's str.capitalize: the first character upper case, the rest lower case. */
export function pyCapitalize(s: string): string {
  const chars = [...s];
  return chars.length ? chars[0]!.toUpperCase() + chars.slice(1).join('').toLowerCase() : s;
}

const hellaswag: TaskDef = {
  name: 'hellaswag',
  hub: { repo: 'Rowan/hellaswag', split: 'validation', fewshotSplit: 'train' },
  fields: ['activity_label', 'ctx_a', 'ctx_b', 'endings', 'label'],
  metrics: ['acc', 'acc_norm'],
  instance(doc) {
    // llama.cpp's text layout (data.ts): the context and endings are preprocessed already
    if (typeof doc.query === 'string') {
      const choices = strings(doc, 'choices');
      return mc(doc.query, choices, goldIn(intField(doc, 'label'), choices.length, 'label'));
    }
    const ctx = `${field(doc, 'ctx_a', 'string')} ${pyCapitalize(field(doc, 'ctx_b', 'string'))}`;
    const query = hellaswagPreprocess(`${field(doc, 'activity_label', 'string')}: ${ctx}`);
    const choices = strings(doc, 'endings').map(hellaswagPreprocess);
    return mc(query, choices, goldIn(intField(doc, 'label'), choices.length, 'label'));
  },
  shot(doc) {
    const i = this.instance(doc);
    return i.contexts[i.gold]! + i.continuations[i.gold]!;
  },
};

const lambada: TaskDef = {
  name: 'lambada_openai',
  hub: { repo: 'EleutherAI/lambada_openai', config: 'default', split: 'test' },
  fields: ['text'],
  metrics: ['perplexity', 'acc'],
  instance(doc) {
    const words = field(doc, 'text', 'string').split(' ');
    // target_delimiter "": the continuation carries its own space
    return { contexts: [words.slice(0, -1).join(' ')], continuations: [` ${words[words.length - 1]!}`], gold: 0 };
  },
  shot(doc) {
    return field(doc, 'text', 'string');
  },
};

const piqa: TaskDef = {
  name: 'piqa',
  hub: { repo: 'baber/piqa', split: 'validation', fewshotSplit: 'train' },
  fields: ['goal', 'sol1', 'sol2', 'label'],
  metrics: ['acc', 'acc_norm'],
  instance(doc) {
    const choices = [field(doc, 'sol1', 'string'), field(doc, 'sol2', 'string')];
    return mc(`Question: ${field(doc, 'goal', 'string')}\nAnswer:`, choices, goldIn(intField(doc, 'label'), 2, 'label'));
  },
  shot(doc) {
    const i = this.instance(doc);
    return i.contexts[i.gold]! + i.continuations[i.gold]!;
  },
};

const winogrande: TaskDef = {
  name: 'winogrande',
  hub: { repo: 'allenai/winogrande', config: 'winogrande_xl', split: 'validation', fewshotSplit: 'train' },
  fields: ['sentence', 'option1', 'option2', 'answer'],
  metrics: ['acc'],
  instance(doc) {
    // partial scoring: each option completes the sentence up to the blank; the rest is the scored continuation
    const s = field(doc, 'sentence', 'string');
    const idx = s.indexOf('_');
    if (idx < 0) throw new AutoRoundError('E_DATASET_RECORD', `document: field "sentence" has no "_" blank: ${JSON.stringify(s)}`, { subject: 'sentence' });
    const target = ` ${s.slice(idx + 1).trim()}`;
    const options = [field(doc, 'option1', 'string'), field(doc, 'option2', 'string')];
    const answer = intField(doc, 'answer');
    return { contexts: options.map((o) => s.slice(0, idx) + o), continuations: [target, target], gold: goldIn(answer - 1, 2, 'answer') };
  },
  shot(doc) {
    const i = this.instance(doc);
    return i.contexts[i.gold]! + i.continuations[i.gold]!;
  },
};

function arc(name: string, config: string): TaskDef {
  return {
    name,
    hub: { repo: 'allenai/ai2_arc', config, split: 'test', fewshotSplit: 'train' },
    fields: ['question', 'choices', 'answerKey'],
    metrics: ['acc', 'acc_norm'],
    instance(doc) {
      const c = struct(doc, 'choices');
      const text = strings(c, 'text');
      const labels = strings(c, 'label');
      const key = field(doc, 'answerKey', 'string');
      const gold = labels.indexOf(key);
      if (gold < 0) throw new AutoRoundError('E_DATASET_RECORD', `document: answerKey "${key}" is none of choices.label (${labels.join(', ')})`, { subject: 'answerKey' });
      return mc(`Question: ${field(doc, 'question', 'string')}\nAnswer:`, text, gold);
    },
    shot(doc) {
      const i = this.instance(doc);
      return i.contexts[i.gold]! + i.continuations[i.gold]!;
    },
  };
}

/** A struct field ({text: [...], label: [...]}) read as a document. */
function struct(doc: Doc, name: string): Doc {
  const v = doc[name];
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new AutoRoundError('E_DATASET_RECORD', `document: field "${name}" ${v === undefined ? 'is missing' : 'should be an object {text, label}'}`, { subject: name });
  return v as Doc;
}

const arcEasy = arc('arc_easy', 'ARC-Easy');
const arcChallenge = arc('arc_challenge', 'ARC-Challenge');

const boolq: TaskDef = {
  name: 'boolq',
  hub: { repo: 'aps/super_glue', config: 'boolq', split: 'validation', fewshotSplit: 'train' },
  fields: ['passage', 'question', 'label'],
  metrics: ['acc'],
  instance(doc) {
    return mc(`${field(doc, 'passage', 'string')}\nQuestion: ${field(doc, 'question', 'string')}?\nAnswer:`, ['no', 'yes'], goldIn(intField(doc, 'label'), 2, 'label'), false);
  },
  shot(doc) {
    const i = this.instance(doc);
    return i.contexts[i.gold]! + i.continuations[i.gold]!;
  },
};

const openbookqa: TaskDef = {
  name: 'openbookqa',
  hub: { repo: 'allenai/openbookqa', config: 'main', split: 'test', fewshotSplit: 'train' },
  fields: ['question_stem', 'choices', 'answerKey'],
  metrics: ['acc', 'acc_norm'],
  instance(doc) {
    const c = struct(doc, 'choices');
    const text = strings(c, 'text');
    const labels = strings(c, 'label');
    const key = field(doc, 'answerKey', 'string').trimStart();
    const gold = labels.indexOf(key);
    if (gold < 0) throw new AutoRoundError('E_DATASET_RECORD', `document: answerKey "${key}" is none of choices.label (${labels.join(', ')})`, { subject: 'answerKey' });
    return mc(field(doc, 'question_stem', 'string'), text, gold);
  },
  shot(doc) {
    const i = this.instance(doc);
    return i.contexts[i.gold]! + i.continuations[i.gold]!;
  },
};

/** The harness's MMLU subject → category table (mmlu/_generate_configs.py). */
export const MMLU_SUBJECTS: Readonly<Record<string, 'stem' | 'humanities' | 'social_sciences' | 'other'>> = {
  abstract_algebra: 'stem', anatomy: 'stem', astronomy: 'stem', business_ethics: 'other', clinical_knowledge: 'other',
  college_biology: 'stem', college_chemistry: 'stem', college_computer_science: 'stem', college_mathematics: 'stem',
  college_medicine: 'other', college_physics: 'stem', computer_security: 'stem', conceptual_physics: 'stem',
  econometrics: 'social_sciences', electrical_engineering: 'stem', elementary_mathematics: 'stem', formal_logic: 'humanities',
  global_facts: 'other', high_school_biology: 'stem', high_school_chemistry: 'stem', high_school_computer_science: 'stem',
  high_school_european_history: 'humanities', high_school_geography: 'social_sciences',
  high_school_government_and_politics: 'social_sciences', high_school_macroeconomics: 'social_sciences',
  high_school_mathematics: 'stem', high_school_microeconomics: 'social_sciences', high_school_physics: 'stem',
  high_school_psychology: 'social_sciences', high_school_statistics: 'stem', high_school_us_history: 'humanities',
  high_school_world_history: 'humanities', human_aging: 'other', human_sexuality: 'social_sciences',
  international_law: 'humanities', jurisprudence: 'humanities', logical_fallacies: 'humanities', machine_learning: 'stem',
  management: 'other', marketing: 'other', medical_genetics: 'other', miscellaneous: 'other', moral_disputes: 'humanities',
  moral_scenarios: 'humanities', nutrition: 'other', philosophy: 'humanities', prehistory: 'humanities',
  professional_accounting: 'other', professional_law: 'humanities', professional_medicine: 'other',
  professional_psychology: 'social_sciences', public_relations: 'social_sciences', security_studies: 'social_sciences',
  sociology: 'social_sciences', us_foreign_policy: 'social_sciences', virology: 'other', world_religions: 'humanities',
};

const LETTERS = ['A', 'B', 'C', 'D'];

function mmluQuestion(doc: Doc): { text: string; gold: number } {
  const choices = strings(doc, 'choices');
  if (choices.length !== 4) throw new AutoRoundError('E_DATASET_RECORD', `document: field "choices" should hold 4 answers, got ${choices.length}`, { subject: 'choices' });
  const text = `${field(doc, 'question', 'string').trim()}\n${choices.map((c, i) => `${LETTERS[i]}. ${c}`).join('\n')}\nAnswer:`;
  return { text, gold: goldIn(intField(doc, 'answer'), 4, 'answer') };
}

const mmlu: TaskDef = {
  name: 'mmlu',
  hub: { repo: 'cais/mmlu', config: 'all', split: 'test', fewshotSplit: 'dev' },
  fields: ['question', 'subject', 'choices', 'answer'],
  metrics: ['acc'],
  fewshotFirstN: true,
  instance(doc) {
    const q = mmluQuestion(doc);
    return mc(q.text, LETTERS, q.gold, false);
  },
  shot(doc) {
    const q = mmluQuestion(doc);
    return `${q.text} ${LETTERS[q.gold]!}`;
  },
  description(doc) {
    return `The following are multiple choice questions (with answers) about ${field(doc, 'subject', 'string').replaceAll('_', ' ')}.\n\n`;
  },
  group(doc) {
    const s = field(doc, 'subject', 'string');
    const c = MMLU_SUBJECTS[s];
    if (!c) throw new AutoRoundError('E_DATASET_RECORD', `document: field "subject" is "${s}", not one of MMLU's 57 subjects`, { subject: 'subject' });
    return `mmlu_${c}`;
  },
};

export const TASKS: ReadonlyMap<string, TaskDef> = new Map([hellaswag, lambada, piqa, winogrande, arcEasy, arcChallenge, boolq, openbookqa, mmlu].map((t) => [t.name, t]));
