// Memory-bound loops of a SignRound iteration outside the GEMMs, attention and QDQ (docs/perf/signround-iteration.md):
// the residual add and gradient accumulation, the MSE loss and its gradient, the sign step. Each reproduces the
// TypeScript loop it replaces (core-tensor's Graph, algo-signround's signStep) bit for bit: every element is
// computed alone in double and rounded once to float32 where the TypeScript stores it, and the loss sum runs in
// element order on one thread.
#pragma once

namespace srfused {

// y = a + b (float32 sum).
void add(const float* a, const float* b, float* y, long n, int threads);
// g += src.
void accumulate(float* g, const float* src, long n, int threads);
// Σ e² in double in element order, e = p − t, or with a per-row mask m (rows of d) e = f32(p·m) − f32(t·m).
double mse_forward(const float* p, const float* t, const float* mask, long rows, long d);
// gp += c·e (e as in mse_forward, times m once more with a mask: cm = c·m; rows with m = 0 are skipped).
// fresh: gp's contents are ignored (it receives 0 + value; rows with m = 0 get 0).
void mse_backward(const float* p, const float* t, const float* mask, long rows, long d, double c, float* gp,
                  int threads, bool fresh = false);
// data ← f32(data − lr) where grad > 0, f32(data + lr) where grad < 0 (sign(0) = sign(NaN) = 0).
void sign_step(float* data, const float* grad, long n, double lr, int threads);

}  // namespace srfused
