// Element loops of the SignRound weight QDQ (int asym / full-range sym, straight-through gradients).
// The per-group scalars (scale, zero point, their gradients) stay in TypeScript; these loops run
// every group in parallel and reproduce the TypeScript arithmetic exactly (float32 quotient and sum,
// round half to even, products and group sums in double, in element order).
#pragma once
#include <cstdint>

namespace qdq {

struct Layout {
  long rows, cols, gs, gpr, num_scales;
  int qmax;
};

// out[i] = scale·(clamp(code) − zp), code[i] = clamp(rint(float(float(W/scale) + V)) + zp, −1, qmax+1).
void forward(const Layout& l, const float* w, const float* v, const float* scale, const float* zp, float* out,
             int16_t* code, int threads);

// dV (may be null) += gW·scale inside the clamp; when acc is non-null, per group
// acc[4r..4r+3] = [Σ g·(q−zp), Σ_inside dq·W, Σ_inside dq, Σ dq] with dq = g·scale.
void backward(const Layout& l, const float* w, const float* gw, const int16_t* code, const float* scale,
              const float* zp, float* dv, double* acc, int threads);

}  // namespace qdq
