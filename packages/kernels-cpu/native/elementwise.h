// Element loops of the SignRound block around the GEMMs: SwiGLU, RMSNorm and RoPE, forward and
// backward. Compiled for baseline x86-64 (no FMA to contract into) and written operation for
// operation like the TypeScript loops in core-tensor's Graph, so both give the same bits: products
// and sums in double, float32 roundings where the TypeScript calls Math.fround or stores.
#pragma once
#include <cstdint>

namespace elementwise {

// out = f32(f32(g·σ(g)) · u).
void swiglu_forward(const float* g, const float* u, float* out, long n, int threads);
// gg += gy·u·σ(g)·(1 + g·(1 − σ(g))), gu += gy·g·σ(g); either may be null. A fresh buffer's contents are
// ignored: it gets 0 + value, the bits a zero-filled buffer would get (the graph then skips the fill).
void swiglu_backward(const float* g, const float* u, const float* gy, float* gg, float* gu, long n, int threads,
                     bool fresh_g = false, bool fresh_u = false);

// Per row of d: rstd = f32(1/√f32(f32(Σx²/d) + eps)), out = w·f32(x·rstd).
void rmsnorm_forward(const float* x, const float* w, float* out, float* rstd, long rows, long d, double eps,
                     int threads);
// gx += rstd·gy·w − x·rstd³·(Σ gy·w·x)/d (per row); gw += Σ_rows gy·x·rstd (rows in order); either may be null.
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* gy, float* gx, float* gw,
                      long rows, long d, int threads, bool fresh_x = false);

// rotate_half RoPE on [rows, heads·hd] with tables [positions, hd] and a row → position map. Forward
// writes dst from src; backward adds the transposed rotation of src (the output gradient) into dst.
void rope(bool backward, const float* src, float* dst, const float* cos, const float* sin, const int32_t* pos,
          long rows, long heads, long hd, long rot, int threads, bool fresh = false);

}  // namespace elementwise
