/**
 * The operations a decoder block is written in (docs/adr/0018-one-block-per-architecture.md): an
 * architecture defines its block once as a function over these, and each implementation runs it —
 * float32 kernels (float-ops.ts: calibration, the forward, KV-cache decoding) or the autograd graph
 * (graph-ops.ts: tuning). `X` is the implementation's tensor: a Float32Array or a graph Var.
 */
export interface BlockOps<X> {
  /** The block's linear `local` ("self_attn.q_proj") on x [rows, in]: x·Wᵀ + b, W and b as the implementation injects them. */
  linear(x: X, local: string): X;
  /** RMSNorm `local` ("input_layernorm", "self_attn.q_norm") over the last (weight-length) elements of each row. */
  norm(x: X, local: string): X;
  /** Rotary embedding of x [rows, heads·headDim] at each row's position. */
  rope(x: X, heads: number): X;
  /** Causal grouped-query attention, q [rows, heads·headDim], k/v [rows, kvHeads·headDim]. */
  attention(q: X, k: X, v: X): X;
  add(a: X, b: X): X;
  /** silu(gate) · up. */
  swiglu(gate: X, up: X): X;
  /**
   * The float32 values of linear `local` on x (a mixture-of-experts router, kept in full precision): routing
   * is a decision taken on values, so no gradient flows through it (docs/models/moe.md#tuning).
   */
  routerLogits(x: X, local: string): Float32Array;
  /** Rows of x [*, width] picked by index: the tokens routed to one expert. */
  gatherRows(x: X, rows: Int32Array, width: number): X;
  /** A zero [totalRows, width] plus, part by part, weights[i] · y[i] added into row rows[i] (index_add of weighted outputs). */
  scatterRows(parts: readonly ScatterPart<X>[], totalRows: number, width: number): X;
}

/** One expert's output rows, where they go and their routing weights. */
export interface ScatterPart<X> {
  readonly y: X;
  readonly rows: Int32Array;
  readonly weights: Float32Array;
}
