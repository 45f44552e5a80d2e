// x86-64 micro-kernels, each compiled for its own instruction set through target attributes, so
// the addon itself is built for baseline x86-64 and still loads on CPUs without AVX2/AVX-512;
// the dispatcher (gemm_native.cc) picks one with __builtin_cpu_supports at run time.
#pragma once
#include "gemm_core.h"

#if defined(__x86_64__) || defined(_M_X64)
#define GEMM_X86 1
#include <immintrin.h>

namespace gemm {

// ---- AVX-512F: MR x 32 (two zmm per row), 2*MR accumulators --------------------------------------
constexpr int AVX512_MR = 14;
constexpr int AVX512_NR = 32;

// Prefetch the `lines` cache lines of each of the `rows` rows of a C tile (2: aligned rows of 32 floats,
// 3: the same rows starting inside a line, whose last float is in the third).
template <int rows, int lines, int hint>
GEMM_INLINE void prefetch_tile(const float* C, idx ldc) {
  const char* c = (const char*)C;
  const idx stride = ldc * (idx)sizeof(float);
  for (int r = 0; r < rows; r++) {
    for (int l = 0; l < lines; l++) _mm_prefetch(c + (l < 2 ? 64 * l : 127), (_mm_hint)hint);
    __asm__("" : "+r"(c));
    c += stride;
  }
}

template <int CL>
__attribute__((target("avx512f,avx512vl,fma,avx2"), always_inline)) static inline void kernel_avx512_body(idx kc, const float* A,
                                                                              const float* B, float* C,
                                                                              idx ldc, float beta) {
  constexpr int MR = AVX512_MR;
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
    c0[r] = _mm512_setzero_ps();
    c1[r] = _mm512_setzero_ps();
  }
  // The C tile is read at the end, after kc steps (~5,000 cycles at kc 384); at the block's shapes it
  // has left L2 since the previous k slice, and those 28 line loads stalled the end of every call.
  // Fetch it to L2 now and to L1 CPF steps before the end (the B stream evicts L1 in between).
  // docs/perf/signround-iteration.md, "Round 4". The row pointer is walked through an empty asm so
  // that the compiler keeps no per-row address live into the loop: the loop uses 31 of the 32 zmm
  // registers, and an extra live value made GCC spill a B vector to the stack (0.62 of the speed).
  constexpr idx CPF = 24;
  prefetch_tile<MR, CL, _MM_HINT_T1>(C, ldc);
  const idx c_at = kc > CPF ? kc - CPF : -1;
  for (idx p = 0; p < kc; p++) {
    if (p == c_at) prefetch_tile<MR, CL, _MM_HINT_T0>(C, ldc);
    const __m512 b0 = _mm512_load_ps(B);
    const __m512 b1 = _mm512_load_ps(B + 16);
    // both cache lines of the B row eight steps ahead (prefetching one of the two left every other
    // line to the hardware and cost 2-5% when the L2 is contended)
    _mm_prefetch((const char*)(B + 8 * 32), _MM_HINT_T0);
    _mm_prefetch((const char*)(B + 8 * 32 + 16), _MM_HINT_T0);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const __m512 a = _mm512_set1_ps(A[r]);
      c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
    }
    A += MR;
    B += 32;
  }
  if (beta == 0.0f) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      _mm512_storeu_ps(C + r * ldc, c0[r]);
      _mm512_storeu_ps(C + r * ldc + 16, c1[r]);
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      _mm512_storeu_ps(C + r * ldc, _mm512_fmadd_ps(vb, _mm512_loadu_ps(C + r * ldc), c0[r]));
      _mm512_storeu_ps(C + r * ldc + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(C + r * ldc + 16), c1[r]));
    }
  }
}

// A row of the C tile (32 floats) spans two cache lines when C is 64-byte aligned and three otherwise.
// Node's own ArrayBuffers start 16 bytes into a page (glibc's mmap'ed chunks), so a caller's C there had each
// row's third line not fetched ahead, stalling the C update: +2-3% on the block's products with it fetched
// (docs/perf/signround-iteration.md, "Round 5"). The autograd's buffers are aligned now (KernelBackend.allocate);
// this covers every other caller. Both versions run the same arithmetic.
__attribute__((target("avx512f,avx512vl,fma,avx2"))) static void kernel_avx512(idx kc, const float* A, const float* B,
                                                                              float* C, idx ldc, float beta) {
  if (((unsigned long)C & 63) == 0)
    kernel_avx512_body<2>(kc, A, B, C, ldc, beta);
  else
    kernel_avx512_body<3>(kc, A, B, C, ldc, beta);
}
// ---- AVX-512 packing: 16x16 in-register transposes for the strided cases ----------------------
__attribute__((target("avx512f"), always_inline)) static inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; i++) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

// Packing a transposed operand reads one stored row after another, each a new page: fetch the row
// this many rows ahead, every line of the `n` floats used.
constexpr idx ROWS_AHEAD = 4;
GEMM_INLINE void prefetch_row(const float* row, idx n) {
  const char* q = (const char*)row;
  const idx bytes = n * (idx)sizeof(float);
  if (bytes <= 0) return;
  for (idx b = 0; b < bytes; b += 64) _mm_prefetch(q + b, _MM_HINT_T0);
  _mm_prefetch(q + bytes - 1, _MM_HINT_T0);
}

__attribute__((target("avx512f"))) static void pack_a_avx512(const Args& g, idx i0, idx p0, idx mc, idx kc, float* Ap) {
  constexpr int MR = AVX512_MR;
  constexpr __mmask16 mask = (__mmask16)((1u << MR) - 1);
  const __m512 va = _mm512_set1_ps(g.alpha);
  if (g.ta) {
    // stored [k, m]: each stored row's mc values are read once, front to back, and dealt out to the
    // micro-panels, with the row ROWS_AHEAD below fetched meanwhile. Packing micro-panel by
    // micro-panel walked kc rows 4-12 KiB apart for 56 bytes each, a new page every access, which
    // no hardware prefetcher follows: 6-7% of a weight gradient's time with n = 1024, 3% now
    // (docs/perf/signround-iteration.md, "Round 4"; row by row without the prefetch was no faster).
    const idx full = mc / MR * MR;
    const float* src = g.a + p0 * g.lda + i0;
    for (idx p = 0; p < kc; p++) {
      const float* s = src + p * g.lda;
      if (p + ROWS_AHEAD < kc) prefetch_row(s + ROWS_AHEAD * g.lda, full);
      float* d = Ap + p * MR;
      for (idx ir = 0; ir < full; ir += MR)
        _mm512_mask_storeu_ps(d + ir * kc, mask, _mm512_mul_ps(va, _mm512_maskz_loadu_ps(mask, s + ir)));
    }
    if (full < mc) pack_a_generic<MR>(g, i0 + full, p0, mc - full, kc, Ap + full * kc);
    return;
  }
  for (idx ir = 0; ir < mc; ir += MR) {
    float* dst = Ap + ir * kc;
    if (mc - ir < MR) {
      pack_a_generic<MR>(g, i0 + ir, p0, mc - ir, kc, dst);
      continue;
    }
    // stored [m, k]: 16 x 16 transposes (14 rows and two of zeros)
    const float* src = g.a + (i0 + ir) * g.lda + p0;
    idx p = 0;
    for (; p + 16 <= kc; p += 16) {
      __m512 r[16];
      for (int i = 0; i < MR; i++) r[i] = _mm512_loadu_ps(src + i * g.lda + p);
      for (int i = MR; i < 16; i++) r[i] = _mm512_setzero_ps();
      transpose16(r);
      for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(dst + (p + q) * MR, mask, _mm512_mul_ps(va, r[q]));
    }
    for (; p < kc; p++)
      for (int i = 0; i < MR; i++) dst[p * MR + i] = g.alpha * src[i * g.lda + p];
  }
}

__attribute__((target("avx512f"))) static void pack_b_avx512(const Args& g, idx p0, idx j0, idx kc, idx nc, float* Bp) {
  constexpr int NR = AVX512_NR;
  if (!g.tb) {
    // stored [k, n]: row by row with the row ROWS_AHEAD below fetched, as pack_a_avx512 does for ta
    const idx full = nc / NR * NR;
    const float* src = g.b + p0 * g.ldb + j0;
    for (idx p = 0; p < kc; p++) {
      const float* s = src + p * g.ldb;
      if (p + ROWS_AHEAD < kc) prefetch_row(s + ROWS_AHEAD * g.ldb, full);
      float* d = Bp + p * NR;
      for (idx jr = 0; jr < full; jr += NR) {
        _mm512_store_ps(d + jr * kc, _mm512_loadu_ps(s + jr));
        _mm512_store_ps(d + jr * kc + 16, _mm512_loadu_ps(s + jr + 16));
      }
    }
    if (full < nc) pack_b_generic<NR>(g, p0, j0 + full, kc, nc - full, Bp + full * kc);
    return;
  }
  for (idx jr = 0; jr < nc; jr += NR) {
    float* dst = Bp + jr * kc;
    if (nc - jr < NR) {
      pack_b_generic<NR>(g, p0, j0 + jr, kc, nc - jr, dst);
      continue;
    }
    // stored [n, k]: 16 x 16 transposes
    const float* src = g.b + (j0 + jr) * g.ldb + p0;
    idx p = 0;
    for (; p + 16 <= kc; p += 16) {
      for (int h = 0; h < 2; h++) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (16 * h + i) * g.ldb + p);
        transpose16(r);
        for (int q = 0; q < 16; q++) _mm512_store_ps(dst + (p + q) * NR + 16 * h, r[q]);
      }
    }
    for (; p < kc; p++)
      for (int j = 0; j < NR; j++) dst[p * NR + j] = src[j * g.ldb + p];
  }
}

// ---- AVX2 + FMA: 6 x 16 (two ymm per row), 12 accumulators ---------------------------------------
constexpr int AVX2_MR = 6;
constexpr int AVX2_NR = 16;

__attribute__((target("avx2,fma"))) static void kernel_avx2(idx kc, const float* A, const float* B, float* C,
                                                            idx ldc, float beta) {
  constexpr int MR = AVX2_MR;
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++) {
    c0[r] = _mm256_setzero_ps();
    c1[r] = _mm256_setzero_ps();
  }
  for (idx p = 0; p < kc; p++) {
    const __m256 b0 = _mm256_load_ps(B);
    const __m256 b1 = _mm256_load_ps(B + 8);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      const __m256 a = _mm256_broadcast_ss(A + r);
      c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
    }
    A += MR;
    B += 16;
  }
  if (beta == 0.0f) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      _mm256_storeu_ps(C + r * ldc, c0[r]);
      _mm256_storeu_ps(C + r * ldc + 8, c1[r]);
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      _mm256_storeu_ps(C + r * ldc, _mm256_fmadd_ps(vb, _mm256_loadu_ps(C + r * ldc), c0[r]));
      _mm256_storeu_ps(C + r * ldc + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(C + r * ldc + 8), c1[r]));
    }
  }
}

// ---- FMA ceiling loops: independent accumulator chains, no memory traffic ------------------------
// Written in assembly so the compiler can neither spill the accumulators nor fold iterations.
// acc += 1.0 * 1e-3 never overflows or goes denormal. 24 zmm chains cover the 4-cycle FMA latency
// on two FMA ports (8 needed) with margin; 12 ymm chains likewise for AVX2.
__attribute__((target("avx512f"), noinline)) static void fma_loop_avx512(long iters) {
  static const float one = 1.0f, small = 1e-3f;
  if (iters <= 0) return;
  __asm__ volatile(
      "vbroadcastss %[one], %%zmm30\n\t"
      "vbroadcastss %[small], %%zmm31\n\t"
      "vmovaps %%zmm31, %%zmm0\n\t"
      "vmovaps %%zmm31, %%zmm1\n\t"
      "vmovaps %%zmm31, %%zmm2\n\t"
      "vmovaps %%zmm31, %%zmm3\n\t"
      "vmovaps %%zmm31, %%zmm4\n\t"
      "vmovaps %%zmm31, %%zmm5\n\t"
      "vmovaps %%zmm31, %%zmm6\n\t"
      "vmovaps %%zmm31, %%zmm7\n\t"
      "vmovaps %%zmm31, %%zmm8\n\t"
      "vmovaps %%zmm31, %%zmm9\n\t"
      "vmovaps %%zmm31, %%zmm10\n\t"
      "vmovaps %%zmm31, %%zmm11\n\t"
      "vmovaps %%zmm31, %%zmm12\n\t"
      "vmovaps %%zmm31, %%zmm13\n\t"
      "vmovaps %%zmm31, %%zmm14\n\t"
      "vmovaps %%zmm31, %%zmm15\n\t"
      "vmovaps %%zmm31, %%zmm16\n\t"
      "vmovaps %%zmm31, %%zmm17\n\t"
      "vmovaps %%zmm31, %%zmm18\n\t"
      "vmovaps %%zmm31, %%zmm19\n\t"
      "vmovaps %%zmm31, %%zmm20\n\t"
      "vmovaps %%zmm31, %%zmm21\n\t"
      "vmovaps %%zmm31, %%zmm22\n\t"
      "vmovaps %%zmm31, %%zmm23\n\t"
      "1:\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm0\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm1\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm2\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm3\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm4\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm5\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm6\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm7\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm8\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm9\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm10\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm11\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm12\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm13\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm14\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm15\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm16\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm17\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm18\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm19\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm20\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm21\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm22\n\t"
      "vfmadd231ps %%zmm30, %%zmm31, %%zmm23\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [n] "+r"(iters)
      : [one] "m"(one), [small] "m"(small)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "cc");
}
constexpr long FMA_LOOP_AVX512_FLOP_PER_ITER = 2L * 24 * 16;

__attribute__((target("avx2,fma"), noinline)) static void fma_loop_avx2(long iters) {
  static const float one = 1.0f, small = 1e-3f;
  if (iters <= 0) return;
  __asm__ volatile(
      "vbroadcastss %[one], %%ymm14\n\t"
      "vbroadcastss %[small], %%ymm15\n\t"
      "vmovaps %%ymm15, %%ymm0\n\t"
      "vmovaps %%ymm15, %%ymm1\n\t"
      "vmovaps %%ymm15, %%ymm2\n\t"
      "vmovaps %%ymm15, %%ymm3\n\t"
      "vmovaps %%ymm15, %%ymm4\n\t"
      "vmovaps %%ymm15, %%ymm5\n\t"
      "vmovaps %%ymm15, %%ymm6\n\t"
      "vmovaps %%ymm15, %%ymm7\n\t"
      "vmovaps %%ymm15, %%ymm8\n\t"
      "vmovaps %%ymm15, %%ymm9\n\t"
      "vmovaps %%ymm15, %%ymm10\n\t"
      "vmovaps %%ymm15, %%ymm11\n\t"
      "1:\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm0\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm1\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm3\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm4\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm5\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm7\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm8\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm9\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm14, %%ymm15, %%ymm11\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [n] "+r"(iters)
      : [one] "m"(one), [small] "m"(small)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");
}
constexpr long FMA_LOOP_AVX2_FLOP_PER_ITER = 2L * 12 * 8;

}  // namespace gemm
#endif
