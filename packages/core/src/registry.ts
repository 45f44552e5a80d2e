import { AutoRoundError } from '@autoround/core-tensor';
import type { KernelBackend, KernelBackendFactory } from '@autoround/core-tensor';
import { createLogger, type Logger } from './log.js';
import type { EvaluatorPlugin, TaskEvaluatorPlugin } from './evaluation.js';
import type { SchemePlannerPlugin } from './scheme-planner.js';
import { type AlgorithmPlugin, type ArchitecturePlugin, type AutoRoundPlugin, type CommandPlugin, type DatasetSourcePlugin, type ExporterPlugin, type PackingPlugin, PLUGIN_API_VERSION } from './plugin.js';

/** The base of a format string: "gguf:q4_k_m" → "gguf", "auto_round:auto_awq" → "auto_round". */
export function formatBase(format: string): string {
  return format.split(':')[0]!.trim().toLowerCase();
}

/**
 * How a plugin reached the registry. On a name clash the higher precedence wins: what the user named
 * (API `plugins`, CLI `--plugin`) over what was discovered in the project's dependencies over what
 * the host bundles; within one source, the first registered wins.
 */
export type PluginSource = 'explicit' | 'discovered' | 'builtin';

const PRECEDENCE: Readonly<Record<PluginSource, number>> = { explicit: 0, discovered: 1, builtin: 2 };

export interface UseOptions {
  /** Default 'explicit'. */
  source?: PluginSource;
}

interface Entry {
  readonly plugin: AutoRoundPlugin;
  readonly source: PluginSource;
}

interface Owned<T> {
  readonly value: T;
  readonly entry: Entry;
}

/** Everything the installed plugins provide, looked up by name. */
export class Registry {
  private entries: Entry[] = [];
  private algos = new Map<string, AlgorithmPlugin>();
  private exps = new Map<string, ExporterPlugin>();
  private archs = new Map<string, ArchitecturePlugin>();
  private packs = new Map<string, PackingPlugin>();
  private cmds = new Map<string, CommandPlugin>();
  private data: DatasetSourcePlugin[] = [];
  private kerns: KernelBackendFactory[] = [];
  private evals: EvaluatorPlugin[] = [];
  private plans: SchemePlannerPlugin[] = [];
  private taskEvals: TaskEvaluatorPlugin[] = [];
  private readonly log: Logger;
  /** Clash and version warnings already given (a rebuild would repeat them). */
  private readonly warned = new Set<string>();

  constructor(options: { log?: Logger } = {}) {
    this.log = options.log ?? createLogger('warn');
  }

  /** The plugins in use, highest precedence first. */
  get plugins(): AutoRoundPlugin[] {
    return this.entries.map((e) => e.plugin);
  }

  /** Where a plugin in use came from. */
  sourceOf(pluginName: string): PluginSource | undefined {
    return this.entries.find((e) => e.plugin.name === pluginName)?.source;
  }

  /**
   * Adds plugins from one source. A plugin whose apiVersion this build does not implement is refused
   * with a warning; a second plugin of the same name is ignored unless its source ranks higher.
   */
  use(plugins: AutoRoundPlugin | readonly AutoRoundPlugin[], options: UseOptions = {}): this {
    const source = options.source ?? 'explicit';
    for (const p of Array.isArray(plugins) ? (plugins as readonly AutoRoundPlugin[]) : [plugins as AutoRoundPlugin]) {
      if (p.apiVersion !== PLUGIN_API_VERSION) {
        const needs = typeof p.apiVersion === 'number' ? `version ${p.apiVersion}` : 'a version before 1 (it declares no apiVersion)';
        this.warnOnce(`plugin ${p.name} needs plugin API ${needs}; this @autoround/core implements version ${PLUGIN_API_VERSION}: not loaded (install a release of ${p.name} built for version ${PLUGIN_API_VERSION})`);
        continue;
      }
      const same = this.entries.findIndex((e) => e.plugin.name === p.name);
      if (same >= 0) {
        if (PRECEDENCE[source] >= PRECEDENCE[this.entries[same]!.source]) continue;
        this.entries.splice(same, 1);
      }
      this.entries.push({ plugin: p, source });
    }
    // stable sort: precedence first, registration order within a source
    this.entries = this.entries.map((e, i) => ({ e, i })).sort((a, b) => PRECEDENCE[a.e.source] - PRECEDENCE[b.e.source] || a.i - b.i).map((x) => x.e);
    this.rebuild();
    return this;
  }

  private warnOnce(msg: string): void {
    if (this.warned.has(msg)) return;
    this.warned.add(msg);
    this.log.warn(msg);
  }

  /** Name → contribution, the first entry (highest precedence) winning; a clash between two plugins is warned about. */
  private index<T>(kind: string, keysOf: (x: T) => readonly string[], itemsOf: (p: AutoRoundPlugin) => readonly T[] | undefined): Map<string, Owned<T>> {
    const out = new Map<string, Owned<T>>();
    for (const entry of this.entries) {
      for (const value of itemsOf(entry.plugin) ?? []) {
        const lost = new Set<Entry>();
        for (const key of keysOf(value)) {
          const had = out.get(key);
          if (!had) out.set(key, { value, entry });
          else if (had.entry !== entry && !lost.has(had.entry)) {
            lost.add(had.entry);
            this.warnOnce(
              `${kind} "${key}" is provided by ${had.entry.plugin.name} (${had.entry.source}) and ${entry.plugin.name} (${entry.source}); using ${had.entry.plugin.name}'s`,
            );
          }
        }
      }
    }
    return out;
  }

  private rebuild(): void {
    const values = <T>(m: Map<string, Owned<T>>) => new Map([...m].map(([k, v]) => [k, v.value]));
    const lower = (n: string) => n.toLowerCase();
    this.algos = values(this.index<AlgorithmPlugin>('algorithm', (a) => [a.name, ...(a.aliases ?? [])].map(lower), (p) => p.algorithms));
    this.packs = values(this.index<PackingPlugin>('packing', (k) => [lower(k.name)], (p) => p.packings));
    const packings = [...new Set(this.packs.values())];
    const exps = values(this.index<ExporterPlugin>('format', (e) => [e.name, ...(e.aliases ?? [])].map(lower), (p) => p.exporters));
    // an exporter that takes packings is handed the installed ones for it, once (aliases share the result)
    const bound = new Map<ExporterPlugin, ExporterPlugin>();
    for (const e of exps.values()) {
      if (!bound.has(e)) bound.set(e, e.withPackings ? e.withPackings(packings.filter((k) => lower(k.exporter) === lower(e.name))) : e);
    }
    this.exps = new Map([...exps].map(([k, e]) => [k, bound.get(e)!]));
    this.archs = values(this.index<ArchitecturePlugin>('architecture', (a) => a.hfArchitectures, (p) => p.architectures));
    this.cmds = values(this.index<CommandPlugin>('command', (c) => [c.name], (p) => p.commands));
    this.data = [...new Set(this.index<DatasetSourcePlugin>('dataset source', (d) => [d.name], (p) => p.datasets).values())].map((o) => o.value);
    this.kerns = [...new Set(this.index<KernelBackendFactory>('kernel backend', (k) => [k.name], (p) => p.kernels).values())].map((o) => o.value);
    this.evals = [...new Set(this.index<EvaluatorPlugin>('evaluator', (e) => [e.name], (p) => p.evaluators).values())].map((o) => o.value);
    this.plans = [...new Set(this.index<SchemePlannerPlugin>('scheme planner', (e) => [e.name], (p) => p.planners).values())].map((o) => o.value);
    this.taskEvals = [...new Set(this.index<TaskEvaluatorPlugin>('task evaluator', (e) => [e.name], (p) => p.taskEvaluators).values())].map((o) => o.value);
  }

  /** Scheme planners (AutoScheme) in precedence order. */
  get planners(): SchemePlannerPlugin[] {
    return [...this.plans];
  }

  /** The scheme planner of highest precedence; an error naming @autoround/autoscheme when none is installed. */
  planner(subject: string): SchemePlannerPlugin {
    const p = this.plans[0];
    if (!p) throw new AutoRoundError('E_NOT_INSTALLED', `${subject} (AutoScheme) needs @autoround/autoscheme (or another plugin contributing a scheme planner), which is not installed`, { subject });
    return p;
  }

  get algorithms(): AlgorithmPlugin[] {
    return [...new Set(this.algos.values())];
  }

  get exporters(): ExporterPlugin[] {
    return [...new Set(this.exps.values())];
  }

  get architectures(): ArchitecturePlugin[] {
    return [...new Set(this.archs.values())];
  }

  /** The packings installed for every exporter. */
  get packings(): PackingPlugin[] {
    return [...new Set(this.packs.values())];
  }

  /** The subcommands plugins contribute to the CLI. */
  get commands(): CommandPlugin[] {
    return [...this.cmds.values()];
  }

  command(name: string): CommandPlugin | undefined {
    return this.cmds.get(name);
  }

  /** Dataset sources in precedence order (the first that matches a --dataset item reads it). */
  get datasets(): DatasetSourcePlugin[] {
    return [...this.data];
  }

  get kernelBackends(): KernelBackendFactory[] {
    return [...this.kerns];
  }

  /** Evaluators in precedence order. */
  get evaluators(): EvaluatorPlugin[] {
    return [...this.evals];
  }

  /** The evaluator of highest precedence; `what` names the request in the error when none is installed. */
  evaluator(what: string, subject?: string): EvaluatorPlugin {
    const e = this.evals[0];
    if (!e) throw new AutoRoundError('E_NOT_INSTALLED', `${what} needs @autoround/eval (or another plugin contributing an evaluator), which is not installed`, { subject: subject ?? what });
    return e;
  }

  /** Task evaluators in precedence order. */
  get taskEvaluators(): TaskEvaluatorPlugin[] {
    return [...this.taskEvals];
  }

  /** The task evaluator of highest precedence (`--tasks`); E_NOT_INSTALLED without one. */
  taskEvaluator(subject = '--tasks'): TaskEvaluatorPlugin {
    const e = this.taskEvals[0];
    if (!e) throw new AutoRoundError('E_NOT_INSTALLED', `${subject} needs @autoround/eval-tasks (or another plugin contributing a task evaluator), which is not installed`, { subject });
    return e;
  }

  algorithm(name: string): AlgorithmPlugin {
    const a = this.algos.get(name.toLowerCase());
    if (!a) {
      // each algorithm once, its aliases beside it (not every alias as if it were an algorithm of its own)
      const installed = this.algorithms.map((x) => (x.aliases?.length ? `${x.name} (or ${x.aliases.join(', ')})` : x.name));
      throw new AutoRoundError('E_UNKNOWN_ALGORITHM', `unknown algorithm "${name}" (--algorithm); installed algorithms: ${installed.join(', ') || 'none'}`, { subject: '--algorithm' });
    }
    return a;
  }

  /** The exporter of a format's base name or alias ("gguf:q4_k_m" → gguf), or undefined when none is installed. */
  findExporter(format: string): ExporterPlugin | undefined {
    return this.exps.get(formatBase(format));
  }

  exporter(format: string): ExporterPlugin {
    const e = this.findExporter(format);
    if (!e) {
      const known = [...this.exps.keys()].join(', ') || 'none';
      throw new AutoRoundError('E_FORMAT', `unknown format "${format}" (--format); installed exporters: ${known}`, { subject: '--format' });
    }
    return e;
  }

  architecture(hfName: string, source: string): ArchitecturePlugin {
    const a = this.archs.get(hfName);
    if (!a) {
      // a host without a preset starts with no architecture at all: say what to install
      if (this.archs.size === 0) throw new AutoRoundError('E_NOT_INSTALLED', `${source}: no architecture plugin is installed to read "${hfName}" (install @autoround/models)`, { subject: source });
      const known = [...this.archs.keys()].join(', ') || 'none';
      throw new AutoRoundError('E_UNKNOWN_ARCH', `${source}: architecture "${hfName}" is not supported; supported: ${known}`, { subject: source });
    }
    return a;
  }

  /**
   * Picks a kernel backend: the one named by `forced` (or AUTOROUND_BACKEND), else the
   * available one with the highest priority.
   */
  kernelBackend(options: { forced?: string; threads?: number } = {}): KernelBackend {
    const forced = options.forced ?? process.env.AUTOROUND_BACKEND;
    const sorted = [...this.kerns].sort((a, b) => b.priority - a.priority);
    if (forced) {
      const f = sorted.find((k) => k.name === forced);
      if (!f) throw new AutoRoundError('E_BAD_FLAG', `kernel backend "${forced}" is not installed; installed: ${sorted.map((k) => k.name).join(', ') || 'none'}`, { subject: '--backend' });
      if (!f.available()) throw new AutoRoundError('E_BAD_FLAG', `kernel backend "${forced}" cannot run on this machine`, { subject: '--backend' });
      return f.create({ threads: options.threads });
    }
    const f = sorted.find((k) => k.available());
    if (!f) throw new AutoRoundError('E_NO_BACKEND', 'no kernel backend is installed (install @autoround/kernels-cpu)');
    return f.create({ threads: options.threads });
  }
}
