// WebAssembly SIMD (simd128) build of the same packed GEMM: gemm_core.h's driver with a v128
// micro-kernel. Freestanding: no libc, no imports; compiled by tools/wasm/build-gemm.sh.
//
// Memory layout: the pack buffers are static (BSS); the embedder places A, B and C anywhere at or
// above heap_base() (growing memory as needed) and calls gemm() with their byte offsets.
#include <wasm_simd128.h>

#include "gemm_core.h"

#ifndef WASM_MR
#define WASM_MR 4
#endif
#ifndef WASM_NR
#define WASM_NR 8
#endif

namespace {

constexpr int MR = WASM_MR;
constexpr int NR = WASM_NR;  // multiple of 4
constexpr int NV = NR / 4;
#ifndef WASM_KC
#define WASM_KC 256
#endif
#ifndef WASM_NC
#define WASM_NC 256
#endif
constexpr gemm::Blocking BL{WASM_KC, 1024, WASM_NC};

alignas(64) float pack_a[((BL.mc + MR - 1) / MR) * MR * BL.kc];
alignas(64) float pack_b[((BL.nc + NR - 1) / NR) * NR * BL.kc];

// There is no FMA in baseline WebAssembly SIMD (relaxed-simd's madd is still behind a flag in
// Node 20), so each rank-1 update is a mul and an add.
void kernel_wasm(gemm::idx kc, const float* A, const float* B, float* C, gemm::idx ldc, float beta) {
  v128_t acc[MR][NV];
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++)
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) acc[r][v] = wasm_f32x4_splat(0.0f);
  for (gemm::idx p = 0; p < kc; p++) {
    v128_t b[NV];
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) b[v] = wasm_v128_load(B + 4 * v);
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
      const v128_t a = wasm_v128_load32_splat(A + r);
#pragma clang loop unroll(full)
      for (int v = 0; v < NV; v++) acc[r][v] = wasm_f32x4_add(acc[r][v], wasm_f32x4_mul(a, b[v]));
    }
    A += MR;
    B += NR;
  }
  if (beta == 0.0f) {
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++)
#pragma clang loop unroll(full)
      for (int v = 0; v < NV; v++) wasm_v128_store(C + r * ldc + 4 * v, acc[r][v]);
  } else {
    const v128_t vb = wasm_f32x4_splat(beta);
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++)
#pragma clang loop unroll(full)
      for (int v = 0; v < NV; v++) {
        float* c = C + r * ldc + 4 * v;
        wasm_v128_store(c, wasm_f32x4_add(acc[r][v], wasm_f32x4_mul(vb, wasm_v128_load(c))));
      }
  }
}

}  // namespace

extern "C" {

extern unsigned char __heap_base;

__attribute__((export_name("heap_base"))) unsigned heap_base() { return (unsigned)(unsigned long)&__heap_base; }

__attribute__((export_name("micro_tile"))) unsigned micro_tile() { return (unsigned)(MR * 1000 + NR); }

// C = alpha·op(A)·op(B) + beta·C, row-major; a, b, c are byte offsets into this module's memory.
__attribute__((export_name("gemm"))) void gemm_f32(int ta, int tb, int m, int n, int k, const float* a,
                                                  const float* b, float* c, float alpha, float beta) {
  gemm::Args g;
  g.ta = ta != 0;
  g.tb = tb != 0;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = g.ta ? m : k;
  g.b = b;
  g.ldb = g.tb ? k : n;
  g.c = c;
  g.ldc = n;
  g.alpha = alpha;
  g.beta = beta;
  const gemm::Ops ops{MR, NR, kernel_wasm, gemm::pack_a_generic<MR>, gemm::pack_b_generic<NR>};
  gemm::gemm_tile(g, ops, BL, 0, m, 0, n, pack_a, pack_b);
}
}
