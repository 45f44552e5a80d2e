// Independent float64 forward passes of the dense families, written from transformers' modeling files
// (modeling_gemma2.py, modeling_gemma3.py, modeling_phi3.py, modeling_mistral.py) and not from the
// product's code: each op as the published definition states it, every value a double.

import { readSafetensors, f32Of } from './independent-reader.js';

type Config = Record<string, unknown>;
type Tensors = Map<string, Float64Array>;

/** A checkpoint folder's tensors as float64 (model.safetensors, F32). */
export function readTensors64(dir: string): Tensors {
  const out: Tensors = new Map();
  for (const [name, t] of readSafetensors(dir)) out.set(name, Float64Array.from(f32Of(t)));
  return out;
}

const num = (c: Config, k: string, d: number): number => (typeof c[k] === 'number' ? (c[k] as number) : d);

function need(t: Tensors, name: string): Float64Array {
  const v = t.get(name);
  if (!v) throw new Error(`reference: no tensor ${name}`);
  return v;
}

/** The sizes every reference reads from config.json (the defaults transformers' configs give). */
function sizes(config: Config) {
  const H = num(config, 'hidden_size', 0);
  const nh = num(config, 'num_attention_heads', 0);
  return {
    H,
    nh,
    kvh: num(config, 'num_key_value_heads', nh),
    hd: num(config, 'head_dim', H / nh),
    I: num(config, 'intermediate_size', 0),
    V: num(config, 'vocab_size', 0),
    L: num(config, 'num_hidden_layers', 0),
    eps: num(config, 'rms_norm_eps', 1e-6),
  };
}

/** Embedding rows of ids [T, H] in float64, times `scale`. */
function embed(E: Float64Array, ids: readonly number[], H: number, scale: number): Float64Array {
  const x = new Float64Array(ids.length * H);
  for (let i = 0; i < ids.length; i++) for (let j = 0; j < H; j++) x[i * H + j] = E[ids[i]! * H + j]! * scale;
  return x;
}

/** y[T, out] = x[T, in] · Wᵀ */
function matmulT(x: Float64Array, T: number, w: Float64Array, inF: number, outF: number): Float64Array {
  const y = new Float64Array(T * outF);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let i = 0; i < inF; i++) s += x[t * inF + i]! * w[o * inF + i]!;
      y[t * outF + o] = s;
    }
  return y;
}

/** RMSNorm over rows of n: x / √(mean x² + eps) · g(w) (g = w for LLaMA/Phi-3, 1 + w for Gemma). */
function rms(x: Float64Array, n: number, w: Float64Array, eps: number, onePlus: boolean): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[r * n + i]! ** 2;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) y[r * n + i] = x[r * n + i]! * inv * (onePlus ? 1 + w[i]! : w[i]!);
  }
  return y;
}

/** rotate_half RoPE on the first `rot` dims of each head: x·cos + rotate_half(x)·sin, scaled by `mscale` (LongRoPE's attention factor). */
function rope(x: Float64Array, T: number, heads: number, hd: number, invFreq: number[], mscale = 1): void {
  const half = invFreq.length;
  for (let t = 0; t < T; t++)
    for (let h = 0; h < heads; h++) {
      const b = (t * heads + h) * hd;
      for (let i = 0; i < half; i++) {
        const a = t * invFreq[i]!;
        const c = Math.cos(a) * mscale;
        const s = Math.sin(a) * mscale;
        const x1 = x[b + i]!;
        const x2 = x[b + i + half]!;
        x[b + i] = x1 * c - x2 * s;
        x[b + i + half] = x2 * c + x1 * s;
      }
    }
}

/** softmax(scale·q·kᵀ (soft-capped) + causal/sliding mask)·v, grouped-query. */
function attention(q: Float64Array, k: Float64Array, v: Float64Array, T: number, H: number, KV: number, hd: number, scale: number, softcap: number | null, window: number | null): Float64Array {
  const out = new Float64Array(T * H * hd);
  for (let h = 0; h < H; h++) {
    const kh = Math.floor(h / (H / KV));
    for (let t = 0; t < T; t++) {
      const sc: number[] = [];
      for (let s = 0; s < T; s++) {
        let d = 0;
        for (let i = 0; i < hd; i++) d += q[(t * H + h) * hd + i]! * k[(s * KV + kh) * hd + i]!;
        let z = d * scale;
        if (softcap !== null) z = Math.tanh(z / softcap) * softcap;
        // causal, and a sliding layer sees keys with t − s < window
        if (s > t || (window !== null && t - s >= window)) z = -Infinity;
        sc.push(z);
      }
      const mx = Math.max(...sc);
      const e = sc.map((z) => Math.exp(z - mx));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) out[(t * H + h) * hd + i]! += (e[s]! / sum) * v[(s * KV + kh) * hd + i]!;
    }
  }
  return out;
}

const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const silu = (x: number) => x / (1 + Math.exp(-x));

function defaultInvFreq(base: number, dim: number): number[] {
  return Array.from({ length: dim / 2 }, (_, i) => 1 / base ** ((2 * i) / dim));
}

/**
 * Logits [T, vocab] of a Gemma2ForCausalLM / Gemma3ForCausalLM (text) checkpoint for `ids`, in float64:
 * embeddings × √hidden; per layer input_layernorm → q/k/v (Gemma 3: q_norm/k_norm) → RoPE (Gemma 3's
 * sliding layers on rope_local_base_freq) → attention with query_pre_attn_scalar^−½, attn_logit_softcapping
 * and the sliding window on sliding layers → o_proj → post_attention_layernorm → residual;
 * pre_feedforward_layernorm → down(gelu_tanh(gate)·up) → post_feedforward_layernorm → residual; final norm,
 * tied head, final_logit_softcapping. Every norm multiplies by 1 + w.
 */
export function gemmaReference(config: Config, t: Tensors, ids: readonly number[]): Float64Array {
  const gemma3 = config.model_type === 'gemma3_text';
  const { H, nh, kvh, hd, I, V, L, eps } = sizes(config);
  const scale = num(config, 'query_pre_attn_scalar', hd) ** -0.5;
  const cap = typeof config.attn_logit_softcapping === 'number' ? config.attn_logit_softcapping : null;
  const finalCap = typeof config.final_logit_softcapping === 'number' ? config.final_logit_softcapping : null;
  const window = num(config, 'sliding_window', 4096);
  const pattern = num(config, 'sliding_window_pattern', 6);
  const globalInv = defaultInvFreq(num(config, 'rope_theta', 10000), hd);
  const localInv = gemma3 ? defaultInvFreq(num(config, 'rope_local_base_freq', 10000), hd) : globalInv;
  const T = ids.length;
  const E = need(t, 'model.embed_tokens.weight');
  let x = embed(E, ids, H, Math.sqrt(H));
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const sliding = gemma3 ? (l + 1) % pattern !== 0 : l % 2 === 0;
    const n = rms(x, H, need(t, `${p}.input_layernorm.weight`), eps, true);
    let q = matmulT(n, T, need(t, `${p}.self_attn.q_proj.weight`), H, nh * hd);
    let k = matmulT(n, T, need(t, `${p}.self_attn.k_proj.weight`), H, kvh * hd);
    const v = matmulT(n, T, need(t, `${p}.self_attn.v_proj.weight`), H, kvh * hd);
    if (gemma3) {
      q = rms(q, hd, need(t, `${p}.self_attn.q_norm.weight`), eps, true);
      k = rms(k, hd, need(t, `${p}.self_attn.k_norm.weight`), eps, true);
    }
    const inv = sliding ? localInv : globalInv;
    rope(q, T, nh, hd, inv);
    rope(k, T, kvh, hd, inv);
    const a = attention(q, k, v, T, nh, kvh, hd, scale, cap, sliding ? window : null);
    const o = rms(matmulT(a, T, need(t, `${p}.self_attn.o_proj.weight`), nh * hd, H), H, need(t, `${p}.post_attention_layernorm.weight`), eps, true);
    for (let i = 0; i < x.length; i++) x[i]! += o[i]!;
    const m = rms(x, H, need(t, `${p}.pre_feedforward_layernorm.weight`), eps, true);
    const g = matmulT(m, T, need(t, `${p}.mlp.gate_proj.weight`), H, I);
    const u = matmulT(m, T, need(t, `${p}.mlp.up_proj.weight`), H, I);
    for (let i = 0; i < g.length; i++) g[i] = geluTanh(g[i]!) * u[i]!;
    const d = rms(matmulT(g, T, need(t, `${p}.mlp.down_proj.weight`), I, H), H, need(t, `${p}.post_feedforward_layernorm.weight`), eps, true);
    for (let i = 0; i < x.length; i++) x[i]! += d[i]!;
  }
  x = rms(x, H, need(t, 'model.norm.weight'), eps, true);
  const logits = matmulT(x, T, t.get('lm_head.weight') ?? E, H, V);
  if (finalCap !== null) for (let i = 0; i < logits.length; i++) logits[i] = Math.tanh(logits[i]! / finalCap) * finalCap;
  return logits;
}

/**
 * Logits [T, vocab] of a Phi3ForCausalLM checkpoint in float64: per layer input_layernorm → qkv_proj split
 * [q | k | v] → partial RoPE (the first head_dim·partial_rotary_factor dims) with LongRoPE: inv_freq =
 * 1 / (ext · base^(2i/dim)), ext = long_factor when the sequence is longer than original_max_position_embeddings
 * else short_factor, cos and sin × √(1 + ln(max_position_embeddings / original) / ln(original)) → attention
 * (1/√head_dim, sliding_window when set) → o_proj → residual; post_attention_layernorm → gate_up_proj split
 * [gate | up] → down(silu(gate)·up) → residual; final norm, lm_head.
 */
export function phi3Reference(config: Config, t: Tensors, ids: readonly number[]): Float64Array {
  const { H, nh, kvh, hd, I, V, L, eps } = sizes(config);
  const dim = Math.floor(hd * num(config, 'partial_rotary_factor', 1));
  const base = num(config, 'rope_theta', 10000);
  const T = ids.length;
  const rs = config.rope_scaling as { type?: string; rope_type?: string; short_factor?: number[]; long_factor?: number[] } | null;
  let inv = defaultInvFreq(base, dim);
  let mscale = 1;
  if (rs && (rs.type ?? rs.rope_type) === 'longrope') {
    const orig = num(config, 'original_max_position_embeddings', 0);
    const ext = T > orig ? rs.long_factor! : rs.short_factor!;
    inv = inv.map((f, i) => f / ext[i]!);
    const s = num(config, 'max_position_embeddings', orig) / orig;
    mscale = s <= 1 ? 1 : Math.sqrt(1 + Math.log(s) / Math.log(orig));
  }
  const window = typeof config.sliding_window === 'number' ? config.sliding_window : null;
  const q = nh * hd;
  const kv = kvh * hd;
  const cols = (x: Float64Array, n: number, from: number, w: number) => {
    const y = new Float64Array(T * w);
    for (let r = 0; r < T; r++) for (let i = 0; i < w; i++) y[r * w + i] = x[r * n + from + i]!;
    return y;
  };
  const E = need(t, 'model.embed_tokens.weight');
  let x = embed(E, ids, H, 1);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const qkv = matmulT(rms(x, H, need(t, `${p}.input_layernorm.weight`), eps, false), T, need(t, `${p}.self_attn.qkv_proj.weight`), H, q + 2 * kv);
    const qs = cols(qkv, q + 2 * kv, 0, q);
    const ks = cols(qkv, q + 2 * kv, q, kv);
    const vs = cols(qkv, q + 2 * kv, q + kv, kv);
    rope(qs, T, nh, hd, inv, mscale);
    rope(ks, T, kvh, hd, inv, mscale);
    const o = matmulT(attention(qs, ks, vs, T, nh, kvh, hd, 1 / Math.sqrt(hd), null, window), T, need(t, `${p}.self_attn.o_proj.weight`), q, H);
    for (let i = 0; i < x.length; i++) x[i]! += o[i]!;
    const gu = matmulT(rms(x, H, need(t, `${p}.post_attention_layernorm.weight`), eps, false), T, need(t, `${p}.mlp.gate_up_proj.weight`), H, 2 * I);
    const act = new Float64Array(T * I);
    for (let r = 0; r < T; r++) for (let i = 0; i < I; i++) act[r * I + i] = silu(gu[r * 2 * I + i]!) * gu[r * 2 * I + I + i]!;
    const d = matmulT(act, T, need(t, `${p}.mlp.down_proj.weight`), I, H);
    for (let i = 0; i < x.length; i++) x[i]! += d[i]!;
  }
  x = rms(x, H, need(t, 'model.norm.weight'), eps, false);
  return matmulT(x, T, t.get('lm_head.weight') ?? E, H, V);
}

/**
 * Logits [T, vocab] of a MistralForCausalLM (or LlamaForCausalLM) checkpoint in float64: LLaMA's block, every
 * layer attending within `sliding_window` when the config sets one (modeling_mistral.py).
 */
export function mistralReference(config: Config, t: Tensors, ids: readonly number[]): Float64Array {
  const { H, nh, kvh, hd, I, V, L, eps } = sizes(config);
  const inv = defaultInvFreq(num(config, 'rope_theta', 10000), hd);
  const window = typeof config.sliding_window === 'number' ? config.sliding_window : null;
  const T = ids.length;
  const E = need(t, 'model.embed_tokens.weight');
  let x = embed(E, ids, H, 1);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const n = rms(x, H, need(t, `${p}.input_layernorm.weight`), eps, false);
    const q = matmulT(n, T, need(t, `${p}.self_attn.q_proj.weight`), H, nh * hd);
    const k = matmulT(n, T, need(t, `${p}.self_attn.k_proj.weight`), H, kvh * hd);
    const v = matmulT(n, T, need(t, `${p}.self_attn.v_proj.weight`), H, kvh * hd);
    rope(q, T, nh, hd, inv);
    rope(k, T, kvh, hd, inv);
    const o = matmulT(attention(q, k, v, T, nh, kvh, hd, 1 / Math.sqrt(hd), null, window), T, need(t, `${p}.self_attn.o_proj.weight`), nh * hd, H);
    for (let i = 0; i < x.length; i++) x[i]! += o[i]!;
    const m = rms(x, H, need(t, `${p}.post_attention_layernorm.weight`), eps, false);
    const g = matmulT(m, T, need(t, `${p}.mlp.gate_proj.weight`), H, I);
    const u = matmulT(m, T, need(t, `${p}.mlp.up_proj.weight`), H, I);
    for (let i = 0; i < g.length; i++) g[i] = silu(g[i]!) * u[i]!;
    const d = matmulT(g, T, need(t, `${p}.mlp.down_proj.weight`), I, H);
    for (let i = 0; i < x.length; i++) x[i]! += d[i]!;
  }
  x = rms(x, H, need(t, 'model.norm.weight'), eps, false);
  return matmulT(x, T, t.get('lm_head.weight') ?? E, H, V);
}

/** Greedy continuation of `prompt` by `n` tokens under a reference forward (the whole sequence each step). */
export function referenceGreedy(forward: (ids: readonly number[]) => Float64Array, vocab: number, prompt: readonly number[], n: number): number[] {
  const ids = [...prompt];
  for (let s = 0; s < n; s++) {
    const logits = forward(ids);
    const last = logits.subarray((ids.length - 1) * vocab, ids.length * vocab);
    let best = 0;
    for (let i = 1; i < vocab; i++) if (last[i]! > last[best]!) best = i;
    ids.push(best);
  }
  return ids.slice(prompt.length);
}

export { matmulT as referenceMatmulT, rms as referenceRms, rope as referenceRope, attention as referenceAttention, silu as referenceSilu, defaultInvFreq as referenceInvFreq };
