// Two threads (or argv[3]) through the whole gemm() of OLD and of the working tree, alternating call
// by call in one process (old, new, old); process CPU time and wall time ratios, median over rounds.
// Objects as in gemm-bitcheck.cc, then:
//   g++ -O3 -DOLD_DIR=$OLD -c tools/bench/native/gemm-ab-threads.cc -o /tmp/abt.o
//   g++ /tmp/abt.o /tmp/old_gemm.o /tmp/new_gemm.o -o /tmp/gemm-ab-threads -lpthread
//   /tmp/gemm-ab-threads 7 "" 2      # rounds, shape filter, threads
// docs/perf/signround-iteration.md, "Round 4".
#include <time.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
#include "gemm-ab-old-new.h"
#include "gemm-ab-shapes.h"
int main(int argc, char** argv) {
  // the four transposes of 1024^3, then the block's shapes
  std::vector<AbShape> sh = {{"sq NN", 0, 0, 1024, 1024, 1024}, {"sq NT", 0, 1, 1024, 1024, 1024}, {"sq TN", 1, 0, 1024, 1024, 1024}, {"sq TT", 1, 1, 1024, 1024, 1024}};
  sh.insert(sh.end(), BLOCK_SHAPES.begin(), BLOCK_SHAPES.end());

  int rounds = argc > 1 ? atoi(argv[1]) : 7;
  const char* only = argc > 2 ? argv[2] : "";
  int th = argc > 3 ? atoi(argv[3]) : 2;
  size_t N = 4096ul * 3072;
  float* A = (float*)aligned_alloc(64, N * 4); float* B = (float*)aligned_alloc(64, N * 4); float* C = (float*)aligned_alloc(64, N * 4);
  for (size_t i = 0; i < N; i++) { A[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f; B[i] = A[(i * 7) % N]; C[i] = 0; }
  double to_all = 0, tn_all = 0;
  for (auto& s : sh) {
    if (*only && !strstr(s.n, only)) continue;
    gemm_old::Args go{s.ta, s.tb, s.m, s.n_, s.k, A, s.ta ? s.m : s.k, B, s.tb ? s.k : s.n_, C, s.n_, 1.0f, 0.0f};
    gemm::Args gn{s.ta, s.tb, s.m, s.n_, s.k, A, s.ta ? s.m : s.k, B, s.tb ? s.k : s.n_, C, s.n_, 1.0f, 0.0f};
    gemm_old::gemm_old(go, th); gemm::gemm(gn, th);  // warm-up: pools, buffers
    double fl = 2.0 * s.m * s.n_ * s.k;
    std::vector<double> rc, rw, fo, fn;
    for (int r = 0; r < rounds; r++) {
      double c0 = pcpu(), w0 = wall(); gemm_old::gemm_old(go, th); double c1 = pcpu(), w1 = wall();
      gemm::gemm(gn, th); double c2 = pcpu(), w2 = wall();
      gemm_old::gemm_old(go, th); double c3 = pcpu(), w3 = wall();
      double co = 0.5 * ((c1 - c0) + (c3 - c2)), cn = c2 - c1, wo = 0.5 * ((w1 - w0) + (w3 - w2)), wn = w2 - w1;
      rc.push_back(co / cn); rw.push_back(wo / wn); fo.push_back(fl / co / 1e9); fn.push_back(fl / cn / 1e9);
      to_all += co; tn_all += cn;
    }
    auto med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
    std::vector<double> rs = rc; std::sort(rs.begin(), rs.end());
    printf("%-6s old/new CPU %.3f [%.3f..%.3f] wall %.3f  GFLOP/cpu-s old %.1f new %.1f\n", s.n, med(rc), rs.front(), rs.back(), med(rw), med(fo), med(fn));
    fflush(stdout);
  }
  printf("all: old/new CPU %.3f\n", to_all / tn_all);
}
