// Portable micro-kernel (plain C++, left to the compiler's auto-vectoriser): the fallback for
// CPUs without AVX2/FMA and for non-x86 builds of the addon.
#pragma once
#include "gemm_core.h"

namespace gemm {

constexpr int GENERIC_MR = 4;
constexpr int GENERIC_NR = 16;

static void kernel_generic(idx kc, const float* A, const float* B, float* C, idx ldc, float beta) {
  constexpr int MR = GENERIC_MR, NR = GENERIC_NR;
  float acc[MR][NR] = {};
  for (idx p = 0; p < kc; p++) {
    for (int r = 0; r < MR; r++) {
      const float a = A[r];
      for (int j = 0; j < NR; j++) acc[r][j] += a * B[j];
    }
    A += MR;
    B += NR;
  }
  for (int r = 0; r < MR; r++) {
    float* c = C + r * ldc;
    if (beta == 0.0f)
      for (int j = 0; j < NR; j++) c[j] = acc[r][j];
    else
      for (int j = 0; j < NR; j++) c[j] = acc[r][j] + beta * c[j];
  }
}

}  // namespace gemm
