// The loops must match the TypeScript bit for bit (see qdq.h): no fused multiply-add contraction, no
// reassociation. They are compiled for AVX-512 and AVX2 (rounding with vrndscale/vround instead of a libm call
// per element: the baseline build took ~2.4 ns per element, docs/perf/signround-iteration.md, "QDQ and attention
// loops") and baseline x86-64, dispatched on the GEMM's ISA so setIsa() governs them too.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "qdq.h"

#include <cmath>
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#endif

#include "gemm_native.h"

namespace qdq {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,sse4.1,prefer-vector-width=512")
#define QDQ_NS avx512
#define QDQ_AVX512 1
#include "qdq_impl.h"
#undef QDQ_AVX512
#undef QDQ_NS
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,sse4.1")
#define QDQ_NS avx2
#include "qdq_impl.h"
#undef QDQ_NS
#pragma GCC pop_options
#define HAVE_X86_VARIANTS 1
#endif
#define QDQ_NS generic
#include "qdq_impl.h"
#undef QDQ_NS
#include "isa_dispatch.h"

namespace {
// fn(r, w0, v0, n) for every group r of the layout: its first weight w0, its first V slot v0 and its length n. Tasks of
// enough groups to amortise scheduling (16,384 elements), enough tasks to balance.
template <typename F>
void each_group(const Layout& l, int threads, F fn) {
  const long per = 16384 / (l.gs > 0 ? l.gs : 1), ch = per < 1 ? 1 : per;
  gemm::parallel_for(threads, (l.num_scales + ch - 1) / ch, [&](long t) {
    const long r1 = (t + 1) * ch < l.num_scales ? (t + 1) * ch : l.num_scales;
    for (long r = t * ch; r < r1; r++) {
      const long c0 = (r % l.gpr) * l.gs;
      fn(r, (r / l.gpr) * l.cols + c0, r * l.gs, l.cols - c0 < l.gs ? l.cols - c0 : l.gs);
    }
  });
}
// The layout of rows x cols in groups of gs columns (the RTN calls carry no qmax).
Layout rtn_layout(long rows, long cols, long gs) {
  const long gpr = (cols + gs - 1) / gs;
  return {rows, cols, gs, gpr, rows * gpr, 0};
}
}  // namespace

void forward(const Layout& l, const float* w, const float* v, const float* scale, const float* zp, float* out,
             int16_t* code, int threads) {
  const double hi = l.qmax + 1;
  each_group(l, threads, [&](long r, long w0, long v0, long n) {
    ISA_DISPATCH(forward_group(w + w0, v + v0, scale[r], zp[r], hi, l.qmax, n, out + w0, code + w0))
  });
}

void backward(const Layout& l, const float* w, const float* gw, const int16_t* code, const float* scale,
              const float* zp, float* dv, double* acc, int threads) {
  if (!acc && !dv) return;
  const int qmax = l.qmax;
  each_group(l, threads, [&](long r, long w0, long v0, long n) {
    const double s = scale[r];
    if (!acc) {
      ISA_DISPATCH(backward_dv_group(gw + w0, code + w0, s, qmax, n, dv + v0))
    } else {
      ISA_DISPATCH(backward_sums_group(w + w0, gw + w0, code + w0, s, zp[r], qmax, n, dv ? dv + v0 : nullptr, acc + 4 * r))
    }
  });
}

void rtn_minmax(const float* w, long rows, long cols, long gs, float* mn, float* mx, int threads) {
  each_group(rtn_layout(rows, cols, gs), threads,
             [&](long g, long w0, long, long n) { ISA_DISPATCH(rtn_minmax(w + w0, n, mn + g, mx + g)) });
}

void rtn_elements(const float* w, const float* v, long rows, long cols, long gs, const float* scale, const double* zp,
                  double maxq, bool sym, uint8_t* codes, float* qdq, int threads) {
  each_group(rtn_layout(rows, cols, gs), threads, [&](long g, long w0, long v0, long n) {
    ISA_DISPATCH(rtn_elements(w + w0, v ? v + v0 : nullptr, scale[g], zp[g], maxq, sym, n, codes + w0, qdq + w0))
  });
}

}  // namespace qdq
