// One thread: the two-thread path's structure (B packed whole, then 224-row chunks) on the block's
// 14 GEMM shapes, with OLD's micro-kernel, packing and loop order (v0) and the working tree's (v1),
// alternating per shape; thread CPU time, each run against the FMA loop timed around it.
// v2-v4: the working tree's kernel and packing with harness loop orders (gemm-ab-jr.h).
//   g++ -O3 -fno-math-errno -DOLD_DIR=$OLD tools/bench/native/gemm-ab.cc -o /tmp/gemm-ab
//   taskset -c 0 /tmp/gemm-ab 7 "" 0 1     # rounds, shape filter ("TN", "" = all), variants
// docs/perf/signround-iteration.md, "Round 4".
#include <time.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
#define STR2(x) #x
#define STR(x) STR2(x)
#define gemm gemm_old
#include STR(OLD_DIR/kernels_x86.h)
#undef gemm
#include "../../../packages/kernels-cpu/native/kernels_x86.h"
#include "gemm-ab-jr.h"
#include "gemm-ab-shapes.h"
#include <string>
static double cpu_now() { timespec ts; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
static float* aalloc(size_t n) { float* p = (float*)aligned_alloc(2 << 20, ((n * 4 + (2 << 20) - 1) >> 21) << 21); for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f; return p; }
template <class NS_Args, class NS_Ops, class NS_Bl, class F1, class F2>
static double run(const NS_Args& g, const NS_Ops& ops, const NS_Bl& bl, float* Bp, float* Ap, F1 packall, F2 rows) {
  double t0 = cpu_now();
  packall(g, ops, bl, Bp, 0, 1);
  for (long i0 = 0; i0 < g.m; i0 += 224) rows(g, ops, bl, i0, g.m - i0 < 224 ? g.m - i0 : 224, Bp, Ap);
  return cpu_now() - t0;
}
int main(int argc, char** argv) {
  const std::vector<AbShape>& sh = BLOCK_SHAPES;

  int rounds = argc > 1 ? atoi(argv[1]) : 5;
  const char* only = argc > 2 ? argv[2] : "";
  float* A = aalloc(4096 * 3072); float* B = aalloc(4096 * 3072); float* C = aalloc(4096 * 3072);
  float* Bp = aalloc(4096 * 3072 + 4096 * 32); float* Ap = aalloc(224 * 384 + 64);
  gemm_old::Ops oo{14, 32, gemm_old::kernel_avx512, gemm_old::pack_a_avx512, gemm_old::pack_b_avx512};
  gemm::Ops on{14, 32, gemm::kernel_avx512, gemm::pack_a_avx512, gemm::pack_b_avx512};
  gemm_old::Blocking bo{384, 4096, 512}; gemm::Blocking bn{384, 4096, 512};
  auto ceil = [] { double t0 = cpu_now(); gemm::fma_loop_avx512(10000000); return 10000000.0 * gemm::FMA_LOOP_AVX512_FLOP_PER_ITER / (cpu_now() - t0) / 1e9; };
  // variants: 0 old, 1 new as built, 2 jr outer, 3 jr outer + next B micro-panel to L2 (T1), 4 (T2)
  std::vector<int> vs;
  for (int i = 3; i < argc; i++) vs.push_back(atoi(argv[i]));
  if (vs.empty()) vs = {0, 1};
  std::vector<double> tot(vs.size(), 0.0);
  for (auto& s : sh) {
    if (*only && !strstr(s.n, only)) continue;
    gemm_old::Args go{s.ta, s.tb, s.m, s.n_, s.k, A, s.ta ? s.m : s.k, B, s.tb ? s.k : s.n_, C, s.n_, 1.0f, 0.0f};
    gemm::Args gn{s.ta, s.tb, s.m, s.n_, s.k, A, s.ta ? s.m : s.k, B, s.tb ? s.k : s.n_, C, s.n_, 1.0f, 0.0f};
    double fl = 2.0 * s.m * s.n_ * s.k;
    std::vector<std::vector<double>> ratio(vs.size()), frac(vs.size()), rate(vs.size());
    for (int r = 0; r < rounds; r++) {
      std::vector<double> t(vs.size());
      for (size_t i = 0; i < vs.size(); i++) {
        double c0 = ceil();
        switch (vs[i]) {
          case 0: t[i] = run(go, oo, bo, Bp, Ap, gemm_old::pack_b_all, gemm_old::gemm_rows_packed_b); break;
          case 1: t[i] = run(gn, on, bn, Bp, Ap, gemm::pack_b_all, gemm::gemm_rows_packed_b); break;
          case 2: t[i] = run(gn, on, bn, Bp, Ap, gemm::pack_b_all, gemm::rows_jr<0>); break;
          case 3: t[i] = run(gn, on, bn, Bp, Ap, gemm::pack_b_all, gemm::rows_jr<1>); break;
          default: t[i] = run(gn, on, bn, Bp, Ap, gemm::pack_b_all, gemm::rows_jr<2>); break;
        }
        double c1 = ceil();
        frac[i].push_back(fl / t[i] / 1e9 / (0.5 * (c0 + c1))); rate[i].push_back(fl / t[i] / 1e9); tot[i] += t[i];
      }
      for (size_t i = 0; i < vs.size(); i++) ratio[i].push_back(t[0] / t[i]);
    }
    auto med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
    printf("%-6s", s.n);
    for (size_t i = 0; i < vs.size(); i++) printf("  v%d %.1f GF/cpu-s %.3f of FMA, t(v%d)/t %.3f", vs[i], med(rate[i]), med(frac[i]), vs[0], med(ratio[i]));
    printf("\n"); fflush(stdout);
  }
  for (size_t i = 0; i < vs.size(); i++) printf("all shapes: t(v%d)/t(v%d) %.3f\n", vs[0], vs[i], tot[0] / tot[i]);
}
