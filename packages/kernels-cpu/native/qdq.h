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

// quant-types' quantizeInt (RTN, optionally with SignRound's V): groups tile [rows, cols] row by row, gs columns each
// (the last one of a row may be shorter); V slots g·gs + k. rtn_minmax: mn[g], mx[g] = min/max(0, the group's W).
// rtn_elements: codes and qdq from the group's scale and zero point (docs/algorithms/qdq.md).
void rtn_minmax(const float* w, long rows, long cols, long gs, float* mn, float* mx, int threads);
void rtn_elements(const float* w, const float* v, long rows, long cols, long gs, const float* scale, const double* zp,
                  double maxq, bool sym, uint8_t* codes, float* qdq, int threads);

}  // namespace qdq
