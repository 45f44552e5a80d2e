// Bit identity of two builds of the native GEMM: OLD (a copy of packages/kernels-cpu/native from the
// commit to compare against) and the working tree's, over odd shapes, all transposes, alpha/beta,
// 1-3 threads, both multi-thread schemes, AVX-512 / AVX2 / generic; prints a hash of every output.
// Build and run (from the repository root; OLD=/tmp/old holds the copied native/ folder):
//   g++ -O3 -fno-math-errno -Dgemm=gemm_old -c $OLD/gemm_native.cc -o /tmp/old_gemm.o
//   g++ -O3 -fno-math-errno -c packages/kernels-cpu/native/gemm_native.cc -o /tmp/new_gemm.o
//   g++ -O3 -DOLD_DIR=$OLD -c tools/bench/native/gemm-bitcheck.cc -o /tmp/bitcheck.o
//   g++ /tmp/bitcheck.o /tmp/old_gemm.o /tmp/new_gemm.o -o /tmp/bitcheck -lpthread
//   /tmp/bitcheck 0   # 96,768 calls up to 449 x 1031 x 777;  /tmp/bitcheck 1: 768 calls up to 2048 x 1050 x 4099
// docs/perf/signround-iteration.md, "Round 4".
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <vector>
#include "gemm-ab-old-new.h"
static uint64_t fnv(const float* p, size_t n, uint64_t h) { const unsigned char* b = (const unsigned char*)p; for (size_t i = 0; i < n * 4; i++) { h ^= b[i]; h *= 1099511628211ull; } return h; }
int main(int argc, char** argv) {
  int big = argc > 1 ? atoi(argv[1]) : 0;
  std::vector<long> ms = {1, 13, 14, 15, 29, 64, 127, 230, 449}, ns = {1, 17, 31, 32, 33, 95, 513, 1031}, kss = {1, 5, 16, 383, 384, 385, 777};
  if (big) { ms = {1030, 2048}; ns = {1024, 1050}; kss = {1024, 4099}; }
  struct AB { float a, b; } abs[] = {{1, 0}, {0.7f, 0.3f}, {1, 1}, {-1.5f, 0}};
  size_t maxa = 0;
  for (long m : ms) for (long k : kss) maxa = std::max(maxa, (size_t)(m * k));
  size_t maxb = 0; for (long n : ns) for (long k : kss) maxb = std::max(maxb, (size_t)(n * k));
  size_t maxc = 0; for (long m : ms) for (long n : ns) maxc = std::max(maxc, (size_t)(m * n));
  std::vector<float> A(maxa), B(maxb), C0(maxc), C1(maxc), Cin(maxc);
  uint32_t s = 12345; auto rnd = [&] { s = s * 1664525u + 1013904223u; return (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f; };
  for (auto& x : A) x = rnd(); for (auto& x : B) x = rnd(); for (auto& x : Cin) x = rnd();
  long cases = 0, bad = 0; uint64_t h0 = 1469598103934665603ull, h1 = h0;
  for (int isa = 2; isa >= (big ? 2 : 0); isa--) {
    gemm_old::set_isa((gemm_old::Isa)isa); gemm::set_isa((gemm::Isa)isa);
    for (int scheme = 0; scheme < 2; scheme++) {
      gemm_old::set_max_packed_b(scheme ? 0 : (32l << 20)); gemm::set_max_packed_b(scheme ? 0 : (32l << 20));
      for (long m : ms) for (long n : ns) for (long k : kss) for (int t = 0; t < 4; t++) for (auto ab : abs) for (int th = 1; th <= 3; th++) {
        if (isa < 2 && (th == 3 || ab.b == 1)) continue;  // fewer cases on the other ISAs
        bool ta = t & 1, tb = t & 2;
        std::memcpy(C0.data(), Cin.data(), m * n * 4); std::memcpy(C1.data(), Cin.data(), m * n * 4);
        gemm_old::Args go{ta, tb, m, n, k, A.data(), ta ? m : k, B.data(), tb ? k : n, C0.data(), n, ab.a, ab.b};
        gemm::Args gn{ta, tb, m, n, k, A.data(), ta ? m : k, B.data(), tb ? k : n, C1.data(), n, ab.a, ab.b};
        gemm_old::gemm_old(go, th); gemm::gemm(gn, th);
        cases++;
        h0 = fnv(C0.data(), m * n, h0); h1 = fnv(C1.data(), m * n, h1);
        if (std::memcmp(C0.data(), C1.data(), m * n * 4)) { if (bad++ < 10) printf("DIFF isa %d scheme %d m %ld n %ld k %ld ta %d tb %d a %g b %g th %d\n", isa, scheme, m, n, k, ta, tb, ab.a, ab.b, th); }
      }
    }
  }
  printf("%ld cases, %ld differ; hash old %016llx new %016llx\n", cases, bad, (unsigned long long)h0, (unsigned long long)h1);
  return bad != 0;
}
