// An independent float64 LLaMA-family decoder for tests: written from the transformers modeling code (RMSNorm,
// rotate-half RoPE, grouped-query attention, SwiGLU), sharing nothing with @autoround/models. It reads float32
// weights through a callback (a checkpoint, or an exported folder read back) and computes in float64 with a
// key/value cache, so greedy decoding of a few hundred tokens stays cheap.

/** The config.json fields the reference reads (default RoPE only; anything else is refused). */
export interface ReferenceLlamaConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
  vocab_size: number;
  rms_norm_eps?: number;
  rope_theta?: number;
  tie_word_embeddings?: boolean;
  rope_scaling?: unknown;
}

/** A float32 tensor by Hugging Face name, or undefined when absent (biases, an untied lm_head). */
export type ReferenceRead = (name: string) => Float32Array | undefined;

export class ReferenceLlama {
  private readonly H: number;
  private readonly I: number;
  private readonly nh: number;
  private readonly nkv: number;
  private readonly hd: number;
  private readonly V: number;
  private readonly eps: number;
  private readonly invFreq: Float64Array;
  private readonly w = new Map<string, Float64Array>();
  private readonly k: Float64Array[][] = [];
  private readonly v: Float64Array[][] = [];
  private pos = 0;

  /** `prefix` is the text model's tensor prefix ("model." for LlamaForCausalLM; "model.language_model." …). */
  constructor(
    private readonly cfg: ReferenceLlamaConfig,
    read: ReferenceRead,
    private readonly prefix = 'model.',
    lmHead = 'lm_head.weight',
    /** Use lm_head.weight when present even under tie_word_embeddings (llama.cpp's rule for a GGUF file). */
    preferOutput = false,
  ) {
    if (cfg.rope_scaling !== undefined && cfg.rope_scaling !== null) {
      const t = (cfg.rope_scaling as { type?: string; rope_type?: string }).rope_type ?? (cfg.rope_scaling as { type?: string }).type;
      if (t !== 'default' && t !== 'mrope') throw new Error(`reference: rope_scaling ${JSON.stringify(cfg.rope_scaling)} is not implemented`);
    }
    this.H = cfg.hidden_size;
    this.I = cfg.intermediate_size;
    this.nh = cfg.num_attention_heads;
    this.nkv = cfg.num_key_value_heads ?? this.nh;
    this.hd = cfg.head_dim ?? this.H / this.nh;
    this.V = cfg.vocab_size;
    this.eps = cfg.rms_norm_eps ?? 1e-6;
    const theta = cfg.rope_theta ?? 10000;
    this.invFreq = new Float64Array(this.hd / 2);
    for (let i = 0; i < this.hd / 2; i++) this.invFreq[i] = 1 / Math.pow(theta, (2 * i) / this.hd);
    const get = (name: string, required = true): Float64Array | undefined => {
      const t = read(name);
      if (!t) {
        if (required) throw new Error(`reference: missing tensor ${name}`);
        return undefined;
      }
      return Float64Array.from(t);
    };
    const put = (key: string, name: string, required = true) => {
      const t = get(name, required);
      if (t) this.w.set(key, t);
    };
    put('embed', `${prefix}embed_tokens.weight`);
    put('norm', `${prefix}norm.weight`);
    const head = get(lmHead, false);
    if (head && (preferOutput || !cfg.tie_word_embeddings)) this.w.set('head', head);
    else if (!cfg.tie_word_embeddings) throw new Error(`reference: missing tensor ${lmHead}`);
    else this.w.set('head', this.w.get('embed')!);
    for (let l = 0; l < cfg.num_hidden_layers; l++) {
      const b = `${prefix}layers.${l}.`;
      for (const n of ['input_layernorm', 'post_attention_layernorm']) put(`${l}.${n}`, `${b}${n}.weight`);
      for (const n of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) {
        put(`${l}.${n}`, `${b}${n}.weight`);
        put(`${l}.${n}.bias`, `${b}${n}.bias`, false);
      }
      this.k.push([]);
      this.v.push([]);
    }
  }

  private rms(x: Float64Array, w: Float64Array): Float64Array {
    let ss = 0;
    for (const v of x) ss += v * v;
    const r = 1 / Math.sqrt(ss / x.length + this.eps);
    return x.map((v, i) => v * r * w[i]!);
  }

  /** y = W x (+ b), W [out, in] row-major. */
  private lin(key: string, x: Float64Array): Float64Array {
    const W = this.w.get(key)!;
    const b = this.w.get(`${key}.bias`);
    const n = x.length;
    const out = new Float64Array(W.length / n);
    for (let o = 0; o < out.length; o++) {
      let s = b ? b[o]! : 0;
      const off = o * n;
      for (let i = 0; i < n; i++) s += W[off + i]! * x[i]!;
      out[o] = s;
    }
    return out;
  }

  /** Rotate-half RoPE of every head of `x` at position `p`, in place. */
  private rope(x: Float64Array, heads: number, p: number): void {
    const half = this.hd / 2;
    for (let h = 0; h < heads; h++) {
      const o = h * this.hd;
      for (let i = 0; i < half; i++) {
        const a = p * this.invFreq[i]!;
        const c = Math.cos(a);
        const s = Math.sin(a);
        const x1 = x[o + i]!;
        const x2 = x[o + i + half]!;
        x[o + i] = x1 * c - x2 * s;
        x[o + i + half] = x2 * c + x1 * s;
      }
    }
  }

  /** Feeds one token at the next position; returns its next-token logits (float64). */
  step(token: number): Float64Array {
    const { H, hd, nh, nkv } = this;
    const p = this.pos++;
    let x = this.w.get('embed')!.slice(token * H, (token + 1) * H);
    for (let l = 0; l < this.cfg.num_hidden_layers; l++) {
      const h = this.rms(x, this.w.get(`${l}.input_layernorm`)!);
      const q = this.lin(`${l}.self_attn.q_proj`, h);
      const k = this.lin(`${l}.self_attn.k_proj`, h);
      const v = this.lin(`${l}.self_attn.v_proj`, h);
      this.rope(q, nh, p);
      this.rope(k, nkv, p);
      this.k[l]!.push(k);
      this.v[l]!.push(v);
      const att = new Float64Array(nh * hd);
      const scale = 1 / Math.sqrt(hd);
      for (let head = 0; head < nh; head++) {
        const g = Math.floor(head / (nh / nkv));
        const scores = this.k[l]!.map((kt) => {
          let s = 0;
          for (let i = 0; i < hd; i++) s += q[head * hd + i]! * kt[g * hd + i]!;
          return s * scale;
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let t = 0; t < e.length; t++) {
          const vt = this.v[l]![t]!;
          const wgt = e[t]! / z;
          for (let i = 0; i < hd; i++) att[head * hd + i]! += wgt * vt[g * hd + i]!;
        }
      }
      const o = this.lin(`${l}.self_attn.o_proj`, att);
      x = x.map((xv, i) => xv + o[i]!);
      const h2 = this.rms(x, this.w.get(`${l}.post_attention_layernorm`)!);
      const gate = this.lin(`${l}.mlp.gate_proj`, h2);
      const up = this.lin(`${l}.mlp.up_proj`, h2);
      const act = new Float64Array(this.I);
      for (let i = 0; i < this.I; i++) act[i] = (gate[i]! / (1 + Math.exp(-gate[i]!))) * up[i]!;
      const d = this.lin(`${l}.mlp.down_proj`, act);
      x = x.map((xv, i) => xv + d[i]!);
    }
    const hn = this.rms(x, this.w.get('norm')!);
    const head = this.w.get('head')!;
    const logits = new Float64Array(this.V);
    for (let t = 0; t < this.V; t++) {
      let s = 0;
      for (let i = 0; i < H; i++) s += head[t * H + i]! * hn[i]!;
      logits[t] = s;
    }
    return logits;
  }
}

/**
 * The reference's greedy continuation of `promptIds` (n tokens, stopping after `eos`), and at each step the
 * gap between the best and second-best logit: a step whose gap is within float32's reach of rounding is a
 * near tie that float32 arithmetic may legitimately break the other way.
 */
export function referenceGreedy(model: ReferenceLlama, promptIds: readonly number[], n: number, eos?: number): { ids: number[]; gaps: number[] } {
  let logits: Float64Array = new Float64Array(0);
  for (const id of promptIds) logits = model.step(id);
  const ids: number[] = [];
  const gaps: number[] = [];
  for (let k = 0; k < n; k++) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    let second = -Infinity;
    for (let i = 0; i < logits.length; i++) if (i !== best && logits[i]! > second) second = logits[i]!;
    ids.push(best);
    gaps.push(logits[best]! - second);
    if (best === eos) break;
    if (k + 1 < n) logits = model.step(best);
  }
  return { ids, gaps };
}
