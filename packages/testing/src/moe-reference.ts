// An independent float64 forward of the mixture-of-experts families, written for the tests from the Hugging Face
// modeling definitions (modeling_qwen3_moe.py, modeling_qwen2_moe.py, modeling_mixtral.py), sharing no code with
// @autoround/models: RMSNorm, rotate_half rope (rope_theta, no scaling), causal grouped-query attention, then the
// sparse block — softmax over the router logits, top-k, renormalised when norm_topk_prob (Mixtral: always), the
// experts' SwiGLU MLPs summed with the routing weights, Qwen2-MoE's shared expert times sigmoid(shared_expert_gate).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint } from '@autoround/core-tensor';

type Cfg = Record<string, unknown>;

export class MoeReference {
  private readonly cfg: Cfg;
  private readonly ck: Checkpoint;
  private readonly cache = new Map<string, Float64Array>();
  readonly family: string;

  constructor(dir: string) {
    this.cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Cfg;
    this.ck = Checkpoint.open(dir);
    this.family = String(this.cfg.model_type);
  }

  private n(key: string, fallback?: number): number {
    const v = this.cfg[key];
    if (typeof v === 'number') return v;
    if (fallback === undefined) throw new Error(`config: ${key}`);
    return fallback;
  }

  private t(name: string): Float64Array {
    let v = this.cache.get(name);
    if (!v) {
      v = Float64Array.from(this.ck.readFloat32(name).data);
      this.cache.set(name, v);
    }
    return v;
  }

  private has(name: string): boolean {
    return this.ck.has(name);
  }

  /** x [T, in] · W[out, in]ᵀ + b. */
  private lin(x: Float64Array, T: number, name: string, inF: number): Float64Array {
    const w = this.t(`${name}.weight`);
    const out = w.length / inF;
    const b = this.has(`${name}.bias`) ? this.t(`${name}.bias`) : null;
    const y = new Float64Array(T * out);
    for (let t = 0; t < T; t++)
      for (let o = 0; o < out; o++) {
        let s = b ? b[o]! : 0;
        for (let i = 0; i < inF; i++) s += x[t * inF + i]! * w[o * inF + i]!;
        y[t * out + o] = s;
      }
    return y;
  }

  private rms(x: Float64Array, n: number, name: string): Float64Array {
    const w = this.t(`${name}.weight`);
    const eps = this.n('rms_norm_eps', 1e-6);
    const y = new Float64Array(x.length);
    for (let r = 0; r < x.length / n; r++) {
      let ss = 0;
      for (let i = 0; i < n; i++) ss += x[r * n + i]! ** 2;
      const inv = 1 / Math.sqrt(ss / n + eps);
      for (let i = 0; i < n; i++) y[r * n + i] = w[i]! * x[r * n + i]! * inv;
    }
    return y;
  }

  private mlp(x: Float64Array, T: number, H: number, prefix: string, names: readonly string[]): Float64Array {
    const g = this.lin(x, T, `${prefix}.${names[0]}`, H);
    const u = this.lin(x, T, `${prefix}.${names[1]}`, H);
    const I = g.length / T;
    for (let i = 0; i < g.length; i++) g[i] = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
    return this.lin(g, T, `${prefix}.${names[2]}`, I);
  }

  /** Logits [T, vocab] of the token ids, in float64. */
  logits(ids: readonly number[]): Float64Array {
    const T = ids.length;
    const H = this.n('hidden_size');
    const nh = this.n('num_attention_heads');
    const nkv = this.n('num_key_value_heads', nh);
    const hd = this.n('head_dim', H / nh);
    const L = this.n('num_hidden_layers');
    const theta = this.n('rope_theta', 10000);
    const V = this.n('vocab_size');
    const emb = this.t('model.embed_tokens.weight');
    let x = new Float64Array(T * H);
    ids.forEach((id, t) => x.set(emb.subarray(id * H, (id + 1) * H), t * H));
    const mix = this.family === 'mixtral';
    const E = this.n(mix ? 'num_local_experts' : 'num_experts');
    const K = this.n('num_experts_per_tok');
    const norm = mix ? true : this.cfg.norm_topk_prob === true;
    const step = this.n('decoder_sparse_step', 1);
    const only = (this.cfg.mlp_only_layers as number[] | undefined) ?? [];
    const rope = (v: Float64Array, heads: number) => {
      const half = hd / 2;
      for (let t = 0; t < T; t++)
        for (let h = 0; h < heads; h++) {
          const o = (t * heads + h) * hd;
          for (let i = 0; i < half; i++) {
            const ang = t * Math.pow(theta, -(2 * i) / hd);
            const [c, s] = [Math.cos(ang), Math.sin(ang)];
            const a = v[o + i]!;
            const b = v[o + i + half]!;
            v[o + i] = a * c - b * s;
            v[o + i + half] = b * c + a * s;
          }
        }
    };
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}`;
      const h1 = this.rms(x, H, `${p}.input_layernorm`);
      let q = this.lin(h1, T, `${p}.self_attn.q_proj`, H);
      let k = this.lin(h1, T, `${p}.self_attn.k_proj`, H);
      const v = this.lin(h1, T, `${p}.self_attn.v_proj`, H);
      if (this.family === 'qwen3_moe') {
        q = this.rms(q, hd, `${p}.self_attn.q_norm`);
        k = this.rms(k, hd, `${p}.self_attn.k_norm`);
      }
      rope(q, nh);
      rope(k, nkv);
      const a = new Float64Array(T * nh * hd);
      for (let h = 0; h < nh; h++) {
        const kh = Math.floor(h / (nh / nkv));
        for (let t = 0; t < T; t++) {
          const sc = new Float64Array(t + 1);
          let m = -Infinity;
          for (let s = 0; s <= t; s++) {
            let d = 0;
            for (let i = 0; i < hd; i++) d += q[(t * nh + h) * hd + i]! * k[(s * nkv + kh) * hd + i]!;
            sc[s] = d / Math.sqrt(hd);
            m = Math.max(m, sc[s]!);
          }
          let z = 0;
          for (let s = 0; s <= t; s++) z += sc[s] = Math.exp(sc[s]! - m);
          for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) a[(t * nh + h) * hd + i]! += (sc[s]! / z) * v[(s * nkv + kh) * hd + i]!;
        }
      }
      const o = this.lin(a, T, `${p}.self_attn.o_proj`, nh * hd);
      const h = x.map((xv, i) => xv + o[i]!);
      const n = this.rms(h, H, `${p}.post_attention_layernorm`);
      const sparse = mix || (!only.includes(l) && E > 0 && (l + 1) % step === 0);
      let y: Float64Array;
      if (!sparse) y = this.mlp(n, T, H, `${p}.mlp`, ['gate_proj', 'up_proj', 'down_proj']);
      else {
        const mod = mix ? 'block_sparse_moe' : 'mlp';
        const names = mix ? ['w1', 'w3', 'w2'] : ['gate_proj', 'up_proj', 'down_proj'];
        const logits = this.lin(n, T, `${p}.${mod}.gate`, H);
        y = new Float64Array(T * H);
        for (let t = 0; t < T; t++) {
          const row = logits.subarray(t * E, (t + 1) * E);
          const mx = Math.max(...row);
          const pr = Array.from(row, (z) => Math.exp(z - mx));
          const zs = pr.reduce((s, z) => s + z, 0);
          const order = pr.map((z, e) => [z / zs, e] as const).sort((u, w) => w[0] - u[0] || u[1] - w[1]).slice(0, K);
          const tot = order.reduce((s, [z]) => s + z, 0);
          const xt = n.subarray(t * H, (t + 1) * H);
          for (const [z, e] of order) {
            const out = this.mlp(xt, 1, H, `${p}.${mod}.experts.${e}`, names);
            const wgt = norm ? z / tot : z;
            for (let i = 0; i < H; i++) y[t * H + i]! += wgt * out[i]!;
          }
        }
        if (this.family === 'qwen2_moe') {
          const sh = this.mlp(n, T, H, `${p}.mlp.shared_expert`, ['gate_proj', 'up_proj', 'down_proj']);
          const g = this.lin(n, T, `${p}.mlp.shared_expert_gate`, H);
          for (let t = 0; t < T; t++) for (let i = 0; i < H; i++) y[t * H + i]! += sh[t * H + i]! / (1 + Math.exp(-g[t]!));
        }
      }
      x = h.map((hv, i) => hv + y[i]!);
    }
    const f = this.rms(x, H, 'model.norm');
    const head = this.cfg.tie_word_embeddings === true ? 'model.embed_tokens' : 'lm_head';
    const out = this.lin(f, T, head, H);
    if (out.length !== T * V) throw new Error('vocab');
    return out;
  }
}
