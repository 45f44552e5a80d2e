import { AutoRoundError } from '@autoround/core-tensor';
import type { KernelBackend, KernelBackendFactory } from '@autoround/core-tensor';
import type { AlgorithmPlugin, ArchitecturePlugin, AutoRoundPlugin, DatasetSourcePlugin, ExporterPlugin } from './plugin.js';

/** The base of a format string: "gguf:q4_k_m" → "gguf", "auto_round:auto_awq" → "auto_round". */
export function formatBase(format: string): string {
  return format.split(':')[0]!.trim().toLowerCase();
}

/** Everything the installed plugins provide, looked up by name. */
export class Registry {
  readonly plugins: AutoRoundPlugin[] = [];
  private readonly algos = new Map<string, AlgorithmPlugin>();
  private readonly exps = new Map<string, ExporterPlugin>();
  private readonly archs = new Map<string, ArchitecturePlugin>();
  private readonly data: DatasetSourcePlugin[] = [];
  private readonly kerns: KernelBackendFactory[] = [];

  use(...plugins: AutoRoundPlugin[]): this {
    for (const p of plugins) {
      if (this.plugins.some((q) => q.name === p.name)) continue;
      this.plugins.push(p);
      for (const a of p.algorithms ?? []) for (const n of [a.name, ...(a.aliases ?? [])]) this.algos.set(n.toLowerCase(), a);
      for (const e of p.exporters ?? []) for (const n of [e.name, ...(e.aliases ?? [])]) this.exps.set(n.toLowerCase(), e);
      for (const a of p.architectures ?? []) for (const n of a.hfArchitectures) this.archs.set(n, a);
      this.data.push(...(p.datasets ?? []));
      this.kerns.push(...(p.kernels ?? []));
    }
    return this;
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

  get datasets(): DatasetSourcePlugin[] {
    return [...this.data];
  }

  get kernelBackends(): KernelBackendFactory[] {
    return [...this.kerns];
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

  exporter(format: string): ExporterPlugin {
    const base = formatBase(format);
    const e = this.exps.get(base);
    if (!e) {
      const known = [...this.exps.keys()].join(', ') || 'none';
      throw new AutoRoundError('E_FORMAT', `unknown format "${format}" (--format); installed exporters: ${known}`, { subject: '--format' });
    }
    return e;
  }

  architecture(hfName: string, source: string): ArchitecturePlugin {
    const a = this.archs.get(hfName);
    if (!a) {
      const known = [...this.archs.keys()].join(', ') || 'none';
      throw new AutoRoundError('E_UNKNOWN_ARCH', `${source}: architecture "${hfName}" is not supported; supported: ${known}`, { subject: source });
    }
    return a;
  }

  dataset(name: string): DatasetSourcePlugin {
    const d = this.data.find((s) => s.matches(name));
    if (!d) throw new AutoRoundError('E_UNKNOWN_DATASET', `no installed dataset source can read "${name}" (--dataset)`, { subject: '--dataset' });
    return d;
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
