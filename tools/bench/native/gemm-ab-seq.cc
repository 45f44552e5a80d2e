// The SignRound iteration's GEMM sequence on two threads (or argv[3]), in situ: the block's 7 forward
// products (NT), 4 input gradients (NN: o, gate, up, down; 94.5 GFLOP, as the iteration's profile counts)
// and 7 weight gradients (TN), each on its own operand buffers, which are written just before the call
// the way the iteration's producers write them (so they come from L3/memory, partly from the writer's
// L2), not left hot by a previous call. Each call runs once with OLD's gemm() and once with the working
// tree's, on freshly written operands each time, in ABBA order across rounds; process CPU time and wall
// time per call kind, summed over rounds. Objects as in gemm-bitcheck.cc, then:
//   g++ -O3 -DOLD_DIR=$OLD -c tools/bench/native/gemm-ab-seq.cc -o /tmp/abs.o
//   g++ /tmp/abs.o /tmp/old_gemm.o /tmp/new_gemm.o -o /tmp/gemm-ab-seq -lpthread
//   /tmp/gemm-ab-seq 5 2 4 1  # rounds, threads, operands' offset from a cache line in floats, cold B
// docs/perf/signround-iteration.md, "Round 5".
#include <time.h>
#include <sys/prctl.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "gemm-ab-old-new.h"
struct Call { const char* kind; bool ta, tb; long m, n, k; float beta; float *a, *b, *c; };
// Node's ArrayBuffers come from calloc; one of this size is mmap'ed by glibc and starts 16 bytes into a
// page, so the iteration's operands are 16 bytes past a cache line (argv[3] = 4 floats; 0 aligned).
static long g_off = 4;
static float* alloc(size_t n) { float* p = (float*)aligned_alloc(64, ((n + g_off) * 4 + 63) / 64 * 64) + g_off; memset(p, 0, n * 4); return p; }
// a producer's pass: every value written (a cheap recurrence so nothing is folded away)
static void write(float* p, size_t n, unsigned seed) {
  unsigned s = seed * 2654435761u;
  for (size_t i = 0; i < n; i++) { s = s * 1664525u + 1013904223u; p[i] = (float)(s >> 9) * (1.0f / 8388608.0f) - 1.0f; }
}
int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 5;
  const int th = argc > 2 ? atoi(argv[2]) : 2;
  if (argc > 3) g_off = atol(argv[3]);
  if (argc > 5 && atoi(argv[5])) prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);  // 4 KiB pages only
  const long T = 4096, H = 1024, Q = 2048, KV = 1024, I = 3072;
  struct Lin { const char* n; long out, in; };
  const Lin lins[] = {{"q", Q, H}, {"k", KV, H}, {"v", KV, H}, {"o", H, Q}, {"gate", I, H}, {"up", I, H}, {"down", H, I}};
  std::vector<Call> calls;
  // forward: y[T, out] = x[T, in] · W[out, in]^T
  for (auto& l : lins) calls.push_back({"NT", false, true, T, l.out, l.in, 0.0f, alloc(T * l.in), alloc(l.out * l.in), alloc(T * l.out)});
  // backward in reverse order: gx[T, in] = gy[T, out] · W (o, gate, up, down), gW[out, in] = gy^T · x
  for (int i = 6; i >= 0; i--) {
    const Lin& l = lins[i];
    float* gy = alloc(T * l.out);
    float* x = alloc(T * l.in);
    if (i >= 3) calls.push_back({"NN", false, false, T, l.in, l.out, 0.0f, gy, alloc(l.out * l.in), alloc(T * l.in)});
    calls.push_back({"TN", true, false, l.out, l.in, T, 0.0f, gy, x, alloc(l.out * l.in)});
  }
  double cpu[2][3] = {{0}}, wl[2][3] = {{0}}, fl[3] = {0};
  auto kind = [](const char* k) { return k[0] == 'N' ? (k[1] == 'T' ? 0 : 1) : 2; };
  // cold (argv[4] = 1): as in the iteration, only A (x or the upstream gradient) was just written; B (the
  // weights, quantized at the start of the iteration, or the input saved by the forward pass) was written
  // long before, and 64 MiB of other work (attention, element loops) ran in between.
  const int cold = argc > 4 ? atoi(argv[4]) : 0;
  const size_t other_n = (size_t)16 << 20;
  float* other = alloc(other_n);
  auto run = [&](int v, const Call& c, unsigned seed) {
    if (cold) write(other, other_n, seed + 7);
    write(c.a, (size_t)c.m * c.k, seed);
    if (!cold) write(c.b, (size_t)c.k * c.n, seed + 1);
    const long lda = c.ta ? c.m : c.k, ldb = c.tb ? c.k : c.n;
    const double c0 = pcpu(), w0 = wall();
    if (v == 0) gemm_old::gemm_old(gemm_old::Args{c.ta, c.tb, c.m, c.n, c.k, c.a, lda, c.b, ldb, c.c, c.n, 1.0f, c.beta}, th);
    else gemm::gemm(gemm::Args{c.ta, c.tb, c.m, c.n, c.k, c.a, lda, c.b, ldb, c.c, c.n, 1.0f, c.beta}, th);
    const double c1 = pcpu(), w1 = wall();
    return std::make_pair(c1 - c0, w1 - w0);
  };
  for (auto& c : calls) { run(0, c, 1); run(1, c, 2); }  // warm-up: pools, pack buffers, pages
  const gemm::Ceiling ce0 = gemm::fma_ceiling(gemm::current_isa(), th, 0.3);
  for (int r = 0; r < rounds; r++) {
    for (size_t i = 0; i < calls.size(); i++) {
      const Call& c = calls[i];
      const int first = (r + (int)i) & 1;
      for (int h = 0; h < 2; h++) {
        const int v = h ? 1 - first : first;
        auto t = run(v, c, 100 * r + 10 * (int)i + h);
        cpu[v][kind(c.kind)] += t.first;
        wl[v][kind(c.kind)] += t.second;
      }
      if (r == 0) fl[kind(c.kind)] += 2.0 * c.m * c.n * c.k;
    }
  }
  const gemm::Ceiling ce1 = gemm::fma_ceiling(gemm::current_isa(), th, 0.3);
  const double per_cpu = 0.5 * (ce0.cpu_gflops + ce1.cpu_gflops);
  printf("FMA loop %d threads: %.1f / %.1f GFLOP/s, %.1f / %.1f per CPU-second (before / after)\n", th, ce0.gflops, ce1.gflops, ce0.cpu_gflops, ce1.cpu_gflops);
  const char* names[] = {"NT", "NN", "TN"};
  double to = 0, tn = 0, wo = 0, wn = 0, ft = 0;
  for (int k = 0; k < 3; k++) {
    printf("%s  %.1f GFLOP  CPU s/seq old %.3f new %.3f (old/new %.3f)  wall old %.3f new %.3f (%.3f)  GFLOP/cpu-s old %.1f new %.1f (%.3f / %.3f of the FMA loop)\n", names[k],
           fl[k] / 1e9, cpu[0][k] / rounds, cpu[1][k] / rounds, cpu[0][k] / cpu[1][k], wl[0][k] / rounds, wl[1][k] / rounds, wl[0][k] / wl[1][k],
           fl[k] * rounds / cpu[0][k] / 1e9, fl[k] * rounds / cpu[1][k] / 1e9, fl[k] * rounds / cpu[0][k] / 1e9 / per_cpu, fl[k] * rounds / cpu[1][k] / 1e9 / per_cpu);
    to += cpu[0][k]; tn += cpu[1][k]; wo += wl[0][k]; wn += wl[1][k]; ft += fl[k];
  }
  printf("all %.1f GFLOP  CPU old/new %.3f  wall old/new %.3f  GFLOP/cpu-s old %.1f new %.1f  GFLOP/s wall old %.1f new %.1f\n", ft / 1e9, to / tn, wo / wn,
         ft * rounds / to / 1e9, ft * rounds / tn / 1e9, ft * rounds / wo / 1e9, ft * rounds / wn / 1e9);
}
