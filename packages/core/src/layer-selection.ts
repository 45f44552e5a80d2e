import { AutoRoundError } from '@autoround/core-tensor';
import type { Logger } from './log.js';
import { fullName, type ModelSpec } from './model-spec.js';
import { completeScheme, isIntWeightOnly, presetScheme, type QuantScheme, validateScheme } from './scheme.js';

export type LayerConfigValue = string | Partial<QuantScheme>;

export interface LayerSelectionOptions {
  /** `--layer_config`: layer name or regex → preset name or scheme fields. */
  layerConfig?: Record<string, LayerConfigValue>;
  /** `--ignore_layers` / `--fp_layers`: comma-separated names or patterns kept in full precision. */
  ignoreLayers?: string;
  quantLmHead?: boolean;
  /**
   * The token embedding (`spec.embedding`, "model.embed_tokens") joins the layers, so that
   * `--fp_layers` / `--layer_config` can name it ("embed_tokens", "model.embed_tokens"): GGUF output
   * stores it quantized (token_embd.weight). Without it the embedding is no layer of the selection;
   * naming it warns (`--fp_layers`, or a 16-bit `--layer_config` entry: it stays in full precision
   * anyway) or fails (a quantized `--layer_config` entry), saying that only GGUF output quantizes it.
   */
  quantEmbedding?: boolean;
  /**
   * lm_head.weight is a tensor of its own although config.json ties the embeddings (a checkpoint
   * that ships both, as stories260K does) and the output keeps it apart (GGUF's output.weight, which
   * llama.cpp uses whenever a file has one): lm_head can then join the layers like an untied one.
   */
  separateLmHead?: boolean;
  log?: Logger;
}

export interface LayerInfo {
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** Every quantizable linear of the model (block linears, plus lm_head). */
export function quantizableLayers(spec: ModelSpec): LayerInfo[] {
  const out: LayerInfo[] = [];
  for (const b of spec.blocks) for (const l of b.linears) out.push({ name: fullName(b, l), inFeatures: l.inFeatures, outFeatures: l.outFeatures });
  return out;
}

function matches(name: string, pattern: string): boolean {
  if (name === pattern || name.includes(pattern)) return true;
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return false;
  }
}

/** The fields a --layer_config entry may set (QuantScheme's) and the type of each. */
// group_shape (FP8 blocks) comes from a preset or --group_size M,N, not from a layer entry
const LAYER_CONFIG_FIELDS: Readonly<Record<Exclude<keyof QuantScheme, 'group_shape'>, 'number' | 'boolean' | 'string'>> = {
  bits: 'number',
  group_size: 'number',
  sym: 'boolean',
  data_type: 'string',
  act_bits: 'number',
  act_group_size: 'number',
  act_sym: 'boolean',
  act_data_type: 'string',
  act_dynamic: 'boolean',
  super_bits: 'number',
  super_group_size: 'number',
  scale_dtype: 'string',
};

/** A --layer_config entry is a preset name or an object of scheme fields: an unknown key (a typo) would be silently ignored. */
function checkLayerConfigEntry(pattern: string, value: unknown): void {
  const subject = '--layer_config';
  if (typeof value === 'string') return; // a preset name, looked up (and reported when unknown) below
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AutoRoundError('E_BAD_FLAG', `--layer_config "${pattern}": expected a scheme name ("W8A16") or an object of scheme fields ({"bits": 8}), got ${JSON.stringify(value)}`, { subject });
  }
  const known = Object.keys(LAYER_CONFIG_FIELDS);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const type = (LAYER_CONFIG_FIELDS as Record<string, string | undefined>)[key];
    if (!type) throw new AutoRoundError('E_BAD_FLAG', `--layer_config "${pattern}": unknown key "${key}" (known: ${known.join(', ')})`, { subject });
    // undefined: an API caller's spread that leaves a field to the run's scheme
    if (v !== undefined && typeof v !== type) throw new AutoRoundError('E_BAD_FLAG', `--layer_config "${pattern}": "${key}" must be a ${type}, got ${JSON.stringify(v)}`, { subject });
  }
}

/**
 * Decides each layer's scheme by the original's rules: user layer_config and ignore_layers first,
 * then shape rules (int weight-only needs both dims multiples of 32; MX/NV need in % group_size == 0).
 * null means the layer stays in full precision.
 */
export function resolveLayerSchemes(spec: ModelSpec, scheme: QuantScheme, options: LayerSelectionOptions = {}): Map<string, QuantScheme | null> {
  const layers = quantizableLayers(spec);
  const lmHeadInfo: LayerInfo = { name: spec.lmHead.replace(/\.weight$/, ''), inFeatures: spec.hiddenSize, outFeatures: spec.vocabSize };
  const tiedHead = spec.tiedEmbeddings && !options.separateLmHead;
  const quantLmHead = !!options.quantLmHead && !tiedHead;
  if (options.quantLmHead && tiedHead) options.log?.warn('--quant_lm_head is ignored: the model ties lm_head to the embeddings');
  if (quantLmHead) layers.push(lmHeadInfo);
  const embedding: LayerInfo = { name: spec.embedding.replace(/\.weight$/, ''), inFeatures: spec.hiddenSize, outFeatures: spec.vocabSize };
  if (options.quantEmbedding) layers.push(embedding);
  // a pattern that names the embedding, outside `layers`, and no layer
  const namesOnly = (l: LayerInfo, p: string, m: (name: string, p: string) => boolean) => m(l.name, p) && !layers.some((x) => m(x.name, p));
  const outsideGguf = `the token embedding (${embedding.name}) stays in full precision: only GGUF output (every --format gguf:*) quantizes it`;
  const tied = `the model ties lm_head to the embeddings (tie_word_embeddings)${options.quantEmbedding ? `; embed_tokens names ${spec.embedding}` : ''}`;
  const schemeOf = (value: LayerConfigValue): QuantScheme =>
    typeof value === 'string' ? presetScheme(value) : completeScheme({ ...scheme, ...value, act_group_size: value.act_group_size ?? value.group_size ?? scheme.act_group_size });

  const result = new Map<string, QuantScheme | null>();
  for (const l of layers) result.set(l.name, scheme.bits >= 16 ? null : scheme);

  const given = (options.ignoreLayers ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const ignores = given.map((s) => (/\d$/.test(s) ? s + '.' : s));
  const ignoreMatches = (name: string, p: string) => matches(name + '.', p) || matches(name, p);
  for (const l of layers) {
    if (ignores.some((p) => ignoreMatches(l.name, p))) result.set(l.name, null);
  }
  ignores.forEach((p, i) => {
    if (layers.some((l) => ignoreMatches(l.name, p))) return;
    if (!options.quantEmbedding && ignoreMatches(embedding.name, p)) options.log?.warn(`--fp_layers / --ignore_layers ${given[i]}: ${outsideGguf}`);
    // lm_head outside the selection (not quantized, or tied) stays in full precision: what was asked
    else if (!ignoreMatches(lmHeadInfo.name, p)) {
      throw new AutoRoundError('E_BAD_FLAG', `--ignore_layers / --fp_layers: "${given[i]}" names no layer of the model (layers are named like ${layers[0]?.name ?? 'none'})`, { subject: '--ignore_layers' });
    }
  });

  for (const [pattern, value] of Object.entries(options.layerConfig ?? {})) checkLayerConfigEntry(pattern, value);
  for (const [pattern, value] of Object.entries(options.layerConfig ?? {})) {
    const hits = layers.filter((l) => matches(l.name, pattern));
    if (hits.length === 0) {
      if (!options.quantEmbedding && matches(embedding.name, pattern)) {
        if (schemeOf(value).bits >= 16) {
          options.log?.warn(`--layer_config ${pattern}: ${outsideGguf}`);
          continue;
        }
        throw new AutoRoundError('E_BAD_FLAG', `--layer_config: "${pattern}" names the token embedding (${embedding.name}), which only GGUF output (every --format gguf:*) quantizes; this run keeps it in full precision`, { subject: '--layer_config' });
      }
      const why = tiedHead && matches(lmHeadInfo.name, pattern) ? `: ${tied}` : ` (e.g. ${layers[0]?.name ?? 'none'})`;
      throw new AutoRoundError('E_BAD_FLAG', `--layer_config: "${pattern}" matches no quantizable layer${why}`, { subject: '--layer_config' });
    }
    const s = schemeOf(value);
    validateScheme(s, `--layer_config ${pattern}`);
    for (const l of hits) result.set(l.name, s.bits >= 16 ? null : s);
  }

  const keptFp = new Map<string, string[]>();
  const keep = (l: LayerInfo, why: string) => {
    result.set(l.name, null);
    keptFp.set(why, [...(keptFp.get(why) ?? []), `${l.name} [${l.outFeatures}x${l.inFeatures}]`]);
  };
  for (const l of layers) {
    const s = result.get(l.name);
    if (!s) continue;
    if (isIntWeightOnly(s) && (l.inFeatures % 32 !== 0 || l.outFeatures % 32 !== 0)) {
      keep(l, 'int weight-only packing needs both dimensions to be multiples of 32');
    } else if ((s.data_type.startsWith('mx') || s.data_type.startsWith('nv')) && l.inFeatures % s.group_size !== 0) {
      keep(l, `in_features must be a multiple of group_size ${s.group_size}`);
    }
  }
  for (const [why, names] of keptFp) {
    const shown = names.length > 6 ? `${names.slice(0, 6).join(', ')} and ${names.length - 6} more` : names.join(', ');
    options.log?.warn(`${names.length} layer${names.length > 1 ? 's' : ''} kept in full precision (${why}): ${shown}`);
  }
  return result;
}
