// Fused attention kernels compiled for AVX-512, AVX2+FMA and baseline x86-64 (or the host ISA
// elsewhere), dispatched on the GEMM's current ISA so setIsa() governs them too.
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "gemm_native.h"

namespace attn {

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512")
#define ATTN_NS avx512
#define ATTN_REGISTER_BLOCKED 1
#include "attention_impl.h"
#undef ATTN_REGISTER_BLOCKED
#undef ATTN_NS
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define ATTN_NS avx2
#include "attention_impl.h"
#undef ATTN_NS
#pragma GCC pop_options
#define HAVE_X86_VARIANTS 1
#endif
#define ATTN_NS generic
#include "attention_impl.h"
#undef ATTN_NS

namespace {
template <typename F>
void run(const AttnArgs& a, int threads, long tasks, F task) {
  gemm::parallel_for(threads, tasks, [&](long i) { task(a, i); });
}
}  // namespace

void forward(const AttnArgs& a, int threads) {
  const long tasks = (long)a.B * a.H;
#ifdef HAVE_X86_VARIANTS
  switch (gemm::current_isa()) {
    case gemm::Isa::Avx512: return run(a, threads, tasks, avx512::forward_task);
    case gemm::Isa::Avx2: return run(a, threads, tasks, avx2::forward_task);
    default: break;
  }
#endif
  run(a, threads, tasks, generic::forward_task);
}

void backward(const AttnArgs& a, int threads) {
  const long tasks = (long)a.B * a.KV;
#ifdef HAVE_X86_VARIANTS
  switch (gemm::current_isa()) {
    case gemm::Isa::Avx512: return run(a, threads, tasks, avx512::backward_task);
    case gemm::Isa::Avx2: return run(a, threads, tasks, avx2::backward_task);
    default: break;
  }
#endif
  run(a, threads, tasks, generic::backward_task);
}

}  // namespace attn
