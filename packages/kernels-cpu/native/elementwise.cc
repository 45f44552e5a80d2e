// The loops must match the TypeScript in core-tensor's Graph bit for bit (see elementwise.h): no
// fused multiply-add contraction, no reassociation. They are compiled for AVX-512 and AVX2 (gathers
// for the exp table, 8 doubles a vector; IEEE results do not depend on the vector width) and baseline
// x86-64, dispatched on the GEMM's ISA so setIsa() governs them too.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "elementwise.h"

#include <cmath>

#include "gemm_native.h"

namespace elementwise {

namespace {
// 2^(k−200) for k = 0…400, as fastExp's table.
struct Pow2Table {
  double v[401];
  Pow2Table() {
    for (int k = 0; k <= 400; k++) v[k] = std::ldexp(1.0, k - 200);
  }
};
const Pow2Table kPow2Table;
const double* const kPow2 = kPow2Table.v;
}  // namespace

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx2,prefer-vector-width=512")
#define ELEM_NS avx512
#include "elementwise_impl.h"
#undef ELEM_NS
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2")
#define ELEM_NS avx2
#include "elementwise_impl.h"
#undef ELEM_NS
#pragma GCC pop_options
#define HAVE_X86_VARIANTS 1
#endif
#define ELEM_NS generic
#include "elementwise_impl.h"
#undef ELEM_NS
#include "isa_dispatch.h"

namespace {

// Splits [0, n) into at most 4 tasks per thread of at least `grain` items each.
template <typename F>
void split(long n, long grain, int threads, F fn) {
  if (n <= 0) return;
  long tasks = (n + grain - 1) / grain;
  const long most = (long)threads * 4;
  if (tasks > most) tasks = most;
  if (tasks < 1) tasks = 1;
  const long per = (n + tasks - 1) / tasks;
  gemm::parallel_for(threads, tasks, [&](long t) {
    const long a = t * per;
    const long b = a + per < n ? a + per : n;
    if (a < b) fn(a, b);
  });
}

constexpr long kGrain = 32768;


}  // namespace

void swiglu_forward(const float* g, const float* u, float* out, long n, int threads) {
  split(n, kGrain, threads, [&](long a, long b) { ISA_DISPATCH(swiglu_forward(g, u, out, a, b)) });
}

void swiglu_backward(const float* g, const float* u, const float* gy, float* gg, float* gu, long n, int threads,
                     bool fresh_g, bool fresh_u) {
  if (!gg && !gu) return;
  split(n, kGrain, threads, [&](long a, long b) { ISA_DISPATCH(swiglu_backward(g, u, gy, gg, gu, fresh_g, fresh_u, a, b)) });
}

void rmsnorm_forward(const float* x, const float* w, float* out, float* rstd, long rows, long d, double eps,
                     int threads) {
  split(rows, kGrain / (d > 0 ? d : 1) + 1, threads,
        [&](long a, long b) { ISA_DISPATCH(rmsnorm_forward(x, w, out, rstd, d, eps, a, b)) });
}

void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* gy, float* gx, float* gw,
                      long rows, long d, int threads, bool fresh_x) {
  if (gx)
    split(rows, kGrain / (d > 0 ? d : 1) + 1, threads,
          [&](long a, long b) { ISA_DISPATCH(rmsnorm_backward_x(x, w, rstd, gy, gx, fresh_x, d, a, b)) });
  // Columns in parallel, rows in order within each: the same sums as the row-major TypeScript loop.
  if (gw) split(d, 16, threads, [&](long a, long b) { ISA_DISPATCH(rmsnorm_backward_w(x, rstd, gy, gw, rows, d, a, b)) });
}

void rope(bool backward, const float* src, float* dst, const float* cos, const float* sin, const int32_t* pos,
          long rows, long heads, long hd, long rot, int threads, bool fresh) {
  split(rows, kGrain / (heads * hd > 0 ? heads * hd : 1) + 1, threads,
        [&](long a, long b) { ISA_DISPATCH(rope(backward, src, dst, cos, sin, pos, heads, hd, rot, fresh, a, b)) });
}

}  // namespace elementwise
