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
  // The query heads of a KV group share one packing of K and V when there are tasks enough for the
  // threads (at least 4 per thread); otherwise one head per task. Either way every output element
  // is computed the same way. On the bench's shape (B 8 x T 512, 16/8 heads of 128) the forward took
  // 0.94x the CPU time in a one-process A/B (docs/perf/signround-iteration.md, "Round 3").
  const int group = a.KV > 0 && a.H % a.KV == 0 ? a.H / a.KV : 1;
  const int per = (long)a.B * a.KV >= 4L * (threads < 1 ? 1 : threads) ? group : 1;
  const long tasks = (long)a.B * (a.H / per);
  auto with = [per](void (*f)(const AttnArgs&, long, int)) {
    return [f, per](const AttnArgs& x, long i) { f(x, i, per); };
  };
#ifdef HAVE_X86_VARIANTS
  switch (gemm::current_isa()) {
    case gemm::Isa::Avx512: return run(a, threads, tasks, with(avx512::forward_task));
    case gemm::Isa::Avx2: return run(a, threads, tasks, with(avx2::forward_task));
    default: break;
  }
#endif
  run(a, threads, tasks, with(generic::forward_task));
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
