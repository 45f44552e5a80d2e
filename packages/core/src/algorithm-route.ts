// Which algorithm runs a request is declared by the algorithms, not decided by the host: an --iters 0
// run takes plain RTN unless an installed algorithm replaces it for the scheme (opt-rtn), and a tuning
// request goes to the algorithm asked for unless that one routes it elsewhere (SignRound hands GGUF
// types to its frozen-scale path). The host knows no quantization type (docs/adr/0019-host-depends-on-core.md).
import type { QuantizeOptions } from './plugin.js';
import type { QuantScheme } from './scheme.js';

/** What an algorithm's `route` sees of a tuning run. */
export interface AlgorithmRouteContext {
  /** The run's global scheme. */
  readonly scheme: QuantScheme;
  readonly options: QuantizeOptions;
  /** Whether an output format fixes each layer's exact type (an exporter with `layerQuantTypes`: GGUF's mix). */
  readonly fixedTypes: boolean;
}

/** Where an algorithm sends a tuning run. */
export interface AlgorithmRoute {
  /** The installed algorithm (name or alias) that runs it; the routing algorithm's own name keeps it. */
  readonly algorithm: string;
  /** How the run names the algorithm in its log ("auto_round (GGUF: V tuned, GGUF scales frozen)"). */
  readonly label?: string;
  /** quantization_config entries the route decides (GGUF tuning freezes the scales: enable_minmax_tuning false). */
  readonly quantArgs?: Readonly<Record<string, unknown>>;
}

/** The routing declarations of an algorithm plugin (AlgorithmPlugin extends this). */
export interface AlgorithmRouting {
  /**
   * Whether this algorithm runs an --iters 0 run of `scheme` in plain RTN's place (unless
   * --disable_opt_rtn): opt-rtn for symmetric int below 8 bits and the GGUF k-quants.
   */
  replacesRtn?(scheme: QuantScheme): boolean;
  /** Where a tuning run (--iters > 0) asked of this algorithm goes; undefined: this algorithm runs it as asked. */
  route?(ctx: AlgorithmRouteContext): AlgorithmRoute | undefined;
}
