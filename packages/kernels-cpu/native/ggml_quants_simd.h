// Lane-parallel versions of ggml-quants.c's scale searches (included by ggml_quants.cc, inside its
// namespace): eight independent sub-blocks of one super-block run side by side, one per AVX2 lane.
// Each lane performs exactly the scalar function's binary32 operations in the scalar order (sums over
// the elements of its sub-block stay sequential, so nothing is reassociated), with branches turned
// into masks; hence the bytes are the scalar code's. target("avx2") does not include FMA, so no
// multiply-add is contracted. Inputs and outputs are transposed: X[i*8 + j] is element i of lane j.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GGMLQ_HAVE_AVX2_KERNELS 1
#include <immintrin.h>

#define GGMLQ_AVX2 __attribute__((target("avx2")))
#define GGMLQ_AVX2_INLINE __attribute__((target("avx2"), always_inline)) inline

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

// nearest_int: (bits(v + 1.5·2^23) & 0x7fffff) − 0x400000, the same bit manipulation per lane.
GGMLQ_AVX2_INLINE __m256i nearest_int8(__m256 v) {
  const __m256 t = _mm256_add_ps(v, _mm256_set1_ps(12582912.f));
  return _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(t), _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x00400000));
}
GGMLQ_AVX2_INLINE __m256 abs8(__m256 v) { return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
// cond ? b : a
GGMLQ_AVX2_INLINE __m256 sel8(__m256 a, __m256 b, __m256 cond) { return _mm256_blendv_ps(a, b, cond); }
GGMLQ_AVX2_INLINE __m256i seli8(__m256i a, __m256i b, __m256 cond) {
  return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), cond));
}

// make_qkx2_quants over 8 lanes of n elements (X, W: [n][8]); L: [n][8] levels, scale/the_min: [8].
GGMLQ_AVX2 void make_qkx2_quants_x8(int n, int nmax, const float* X, const float* W, int32_t* L, float* scale_out,
                                    float* the_min_out, float rmin, float rdelta, int nstep, bool use_mad) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256i izero = _mm256_setzero_si256();
  const __m256i inmax = _mm256_set1_epi32(nmax);
  const __m256 fnmax = _mm256_set1_ps((float)nmax);
  __m256 mn = _mm256_loadu_ps(X), mx = mn;
  __m256 sum_w = _mm256_loadu_ps(W);
  __m256 sum_x = _mm256_mul_ps(sum_w, mn);
  for (int i = 1; i < n; ++i) {
    const __m256 xi = _mm256_loadu_ps(X + 8 * i), wi = _mm256_loadu_ps(W + 8 * i);
    mn = sel8(mn, xi, _mm256_cmp_ps(xi, mn, _CMP_LT_OQ));
    mx = sel8(mx, xi, _mm256_cmp_ps(xi, mx, _CMP_GT_OQ));
    sum_w = _mm256_add_ps(sum_w, wi);
    sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(wi, xi));
  }
  mn = sel8(mn, zero, _mm256_cmp_ps(mn, zero, _CMP_GT_OQ));
  const __m256 flat = _mm256_cmp_ps(mx, mn, _CMP_EQ_OQ);  // the scalar code returns early there
  const __m256 flat_min = mn;
  __m256 iscale = _mm256_div_ps(fnmax, _mm256_sub_ps(mx, mn));
  __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.f), iscale);
  __m256 best = zero;
  for (int i = 0; i < n; ++i) {
    const __m256 xi = _mm256_loadu_ps(X + 8 * i), wi = _mm256_loadu_ps(W + 8 * i);
    const __m256i l = _mm256_max_epi32(izero, _mm256_min_epi32(inmax, nearest_int8(_mm256_mul_ps(iscale, _mm256_sub_ps(xi, mn)))));
    _mm256_storeu_si256((__m256i*)(L + 8 * i), l);
    __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(l)), mn), xi);
    diff = use_mad ? abs8(diff) : _mm256_mul_ps(diff, diff);
    best = _mm256_add_ps(best, _mm256_mul_ps(wi, diff));
  }
  alignas(32) int32_t Laux[32 * 8];
  for (int is = 0; is <= nstep; ++is) {
    const float num = rmin + rdelta * is + nmax;  // the scalar expression, lane-independent
    iscale = _mm256_div_ps(_mm256_set1_ps(num), _mm256_sub_ps(mx, mn));
    __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
    for (int i = 0; i < n; ++i) {
      const __m256 xi = _mm256_loadu_ps(X + 8 * i), wi = _mm256_loadu_ps(W + 8 * i);
      const __m256i l = _mm256_max_epi32(izero, _mm256_min_epi32(inmax, nearest_int8(_mm256_mul_ps(iscale, _mm256_sub_ps(xi, mn)))));
      _mm256_store_si256((__m256i*)(Laux + 8 * i), l);
      const __m256 lf = _mm256_cvtepi32_ps(l);
      const __m256 wl = _mm256_mul_ps(wi, lf);
      sum_l = _mm256_add_ps(sum_l, wl);
      sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, lf));
      sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, xi));
    }
    const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
    const __m256 dpos = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
    if (_mm256_movemask_ps(dpos) == 0) continue;
    __m256 this_scale = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
    __m256 this_min = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
    const __m256 mpos = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
    this_min = sel8(this_min, zero, mpos);
    this_scale = sel8(this_scale, _mm256_div_ps(sum_xl, sum_l2), mpos);
    __m256 cur = zero;
    for (int i = 0; i < n; ++i) {
      const __m256 xi = _mm256_loadu_ps(X + 8 * i), wi = _mm256_loadu_ps(W + 8 * i);
      const __m256 lf = _mm256_cvtepi32_ps(_mm256_load_si256((const __m256i*)(Laux + 8 * i)));
      __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(this_scale, lf), this_min), xi);
      diff = use_mad ? abs8(diff) : _mm256_mul_ps(diff, diff);
      cur = _mm256_add_ps(cur, _mm256_mul_ps(wi, diff));
    }
    const __m256 upd = _mm256_and_ps(dpos, _mm256_cmp_ps(cur, best, _CMP_LT_OQ));
    if (_mm256_movemask_ps(upd) == 0) continue;
    for (int i = 0; i < n; ++i) {
      const __m256i li = _mm256_loadu_si256((const __m256i*)(L + 8 * i));
      _mm256_storeu_si256((__m256i*)(L + 8 * i), seli8(li, _mm256_load_si256((const __m256i*)(Laux + 8 * i)), upd));
    }
    best = sel8(best, cur, upd);
    scale = sel8(scale, this_scale, upd);
    mn = sel8(mn, this_min, upd);
  }
  // lanes whose values were all equal: levels 0, scale 0, the min as found
  for (int i = 0; i < n; ++i) {
    const __m256i li = _mm256_loadu_si256((const __m256i*)(L + 8 * i));
    _mm256_storeu_si256((__m256i*)(L + 8 * i), seli8(li, izero, flat));
  }
  scale = sel8(scale, zero, flat);
  mn = sel8(mn, flat_min, flat);
  _mm256_storeu_ps(scale_out, scale);
  _mm256_storeu_ps(the_min_out, _mm256_xor_ps(mn, _mm256_set1_ps(-0.f)));  // -min, as the scalar negation
}

// make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = NULL) over 8 lanes: weights x², levels L + nmax.
GGMLQ_AVX2 void make_qx_quants_rmse1_x8(int n, int nmax, const float* X, int32_t* L, float* scale_out) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256i lo = _mm256_set1_epi32(-nmax), hi = _mm256_set1_epi32(nmax - 1), off = _mm256_set1_epi32(nmax);
  __m256 max = zero, amax = zero;
  for (int i = 0; i < n; ++i) {
    const __m256 xi = _mm256_loadu_ps(X + 8 * i);
    const __m256 ax = abs8(xi);
    const __m256 gt = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
    amax = sel8(amax, ax, gt);
    max = sel8(max, xi, gt);
  }
  const __m256 allzero = _mm256_cmp_ps(amax, _mm256_set1_ps(GROUP_MAX_EPS), _CMP_LT_OQ);
  __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)-nmax), max);
  __m256 sumlx = zero, suml2 = zero;
  for (int i = 0; i < n; ++i) {
    const __m256 xi = _mm256_loadu_ps(X + 8 * i);
    const __m256i l = _mm256_max_epi32(lo, _mm256_min_epi32(hi, nearest_int8(_mm256_mul_ps(iscale, xi))));
    _mm256_storeu_si256((__m256i*)(L + 8 * i), _mm256_add_epi32(l, off));
    const __m256 w = _mm256_mul_ps(xi, xi);
    const __m256 lf = _mm256_cvtepi32_ps(l);
    sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(w, xi), lf));
    suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w, lf), lf));
  }
  // scale = suml2 ? sumlx/suml2 : 0
  __m256 scale = sel8(_mm256_div_ps(sumlx, suml2), zero, _mm256_cmp_ps(suml2, zero, _CMP_EQ_OQ));
  __m256 best = _mm256_mul_ps(scale, sumlx);
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float num = -(nmax + 0.1f * is);
    iscale = _mm256_div_ps(_mm256_set1_ps(num), max);
    sumlx = suml2 = zero;
    for (int i = 0; i < n; ++i) {
      const __m256 xi = _mm256_loadu_ps(X + 8 * i);
      const __m256i l = _mm256_max_epi32(lo, _mm256_min_epi32(hi, nearest_int8(_mm256_mul_ps(iscale, xi))));
      const __m256 w = _mm256_mul_ps(xi, xi);
      const __m256 lf = _mm256_cvtepi32_ps(l);
      sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(w, xi), lf));
      suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w, lf), lf));
    }
    const __m256 upd = _mm256_and_ps(_mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
                                     _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2), _CMP_GT_OQ));
    if (_mm256_movemask_ps(upd) == 0) continue;
    for (int i = 0; i < n; ++i) {
      const __m256 xi = _mm256_loadu_ps(X + 8 * i);
      const __m256i l = _mm256_max_epi32(lo, _mm256_min_epi32(hi, nearest_int8(_mm256_mul_ps(iscale, xi))));
      const __m256i li = _mm256_loadu_si256((const __m256i*)(L + 8 * i));
      _mm256_storeu_si256((__m256i*)(L + 8 * i), seli8(li, _mm256_add_epi32(l, off), upd));
    }
    const __m256 s = _mm256_div_ps(sumlx, suml2);
    scale = sel8(scale, s, upd);
    best = sel8(best, _mm256_mul_ps(s, sumlx), upd);
  }
  for (int i = 0; i < n; ++i) {
    const __m256i li = _mm256_loadu_si256((const __m256i*)(L + 8 * i));
    _mm256_storeu_si256((__m256i*)(L + 8 * i), seli8(li, _mm256_setzero_si256(), allzero));
  }
  _mm256_storeu_ps(scale_out, sel8(scale, zero, allzero));
}

// make_q3_quants(n, nmax, x, L, do_rmse = true) over 8 lanes: levels L + nmax. A lane whose pass
// changed nothing is at a fixed point (the next pass would make the same decisions), so running the
// passes until no lane changes (at most 5) equals the scalar per-lane early exit.
GGMLQ_AVX2 void make_q3_quants_rmse_x8(int n, int nmax, const float* X, int32_t* L, float* scale_out) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256i lo = _mm256_set1_epi32(-nmax), hi = _mm256_set1_epi32(nmax - 1);
  __m256 max = zero, amax = zero;
  for (int i = 0; i < n; ++i) {
    const __m256 xi = _mm256_loadu_ps(X + 8 * i);
    const __m256 ax = abs8(xi);
    const __m256 gt = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
    amax = sel8(amax, ax, gt);
    max = sel8(max, xi, gt);
  }
  const __m256 allzero = _mm256_cmp_ps(amax, _mm256_set1_ps(GROUP_MAX_EPS), _CMP_LT_OQ);
  const __m256 iscale = _mm256_div_ps(_mm256_set1_ps((float)-nmax), max);
  __m256 sumlx = zero, suml2 = zero;
  for (int i = 0; i < n; ++i) {
    const __m256 xi = _mm256_loadu_ps(X + 8 * i);
    const __m256i l = _mm256_max_epi32(lo, _mm256_min_epi32(hi, nearest_int8(_mm256_mul_ps(iscale, xi))));
    _mm256_storeu_si256((__m256i*)(L + 8 * i), l);
    const __m256 w = _mm256_mul_ps(xi, xi);
    const __m256 lf = _mm256_cvtepi32_ps(l);
    sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(w, xi), lf));
    suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w, lf), lf));
  }
  for (int itry = 0; itry < 5; ++itry) {
    __m256 changed = zero;
    for (int i = 0; i < n; ++i) {
      const __m256 xi = _mm256_loadu_ps(X + 8 * i);
      const __m256 w = _mm256_mul_ps(xi, xi);
      const __m256i li = _mm256_loadu_si256((const __m256i*)(L + 8 * i));
      const __m256 lf = _mm256_cvtepi32_ps(li);
      const __m256 wx = _mm256_mul_ps(w, xi);
      __m256 slx = _mm256_sub_ps(sumlx, _mm256_mul_ps(wx, lf));
      const __m256 c1 = _mm256_cmp_ps(slx, zero, _CMP_GT_OQ);
      if (_mm256_movemask_ps(c1) == 0) continue;
      __m256 sl2 = _mm256_sub_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w, lf), lf));
      const __m256i nl = _mm256_max_epi32(lo, _mm256_min_epi32(hi, nearest_int8(_mm256_div_ps(_mm256_mul_ps(xi, sl2), slx))));
      const __m256 c2 = _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(nl, li)), c1);
      if (_mm256_movemask_ps(c2) == 0) continue;
      const __m256 nf = _mm256_cvtepi32_ps(nl);
      slx = _mm256_add_ps(slx, _mm256_mul_ps(wx, nf));
      sl2 = _mm256_add_ps(sl2, _mm256_mul_ps(_mm256_mul_ps(w, nf), nf));
      const __m256 better = _mm256_cmp_ps(_mm256_mul_ps(_mm256_mul_ps(slx, slx), suml2), _mm256_mul_ps(_mm256_mul_ps(sumlx, sumlx), sl2), _CMP_GT_OQ);
      const __m256 upd = _mm256_and_ps(c2, _mm256_and_ps(_mm256_cmp_ps(sl2, zero, _CMP_GT_OQ), better));
      _mm256_storeu_si256((__m256i*)(L + 8 * i), seli8(li, nl, upd));
      sumlx = sel8(sumlx, slx, upd);
      suml2 = sel8(suml2, sl2, upd);
      changed = _mm256_or_ps(changed, upd);
    }
    if (_mm256_movemask_ps(changed) == 0) break;
  }
  const __m256i off = _mm256_set1_epi32(nmax);
  for (int i = 0; i < n; ++i) {
    const __m256i li = _mm256_add_epi32(_mm256_loadu_si256((const __m256i*)(L + 8 * i)), off);
    _mm256_storeu_si256((__m256i*)(L + 8 * i), seli8(li, _mm256_setzero_si256(), allzero));
  }
  const __m256 scale = sel8(_mm256_div_ps(sumlx, suml2), zero, _mm256_cmp_ps(suml2, zero, _CMP_LE_OQ));
  // suml2 > 0 ? sumlx/suml2 : 0 (a NaN suml2 gives 0 in the scalar code too)
  _mm256_storeu_ps(scale_out, sel8(sel8(scale, zero, _mm256_cmp_ps(suml2, suml2, _CMP_UNORD_Q)), zero, allzero));
}

// The sub-block searches of the K-quant reference functions, 8 sub-blocks at a time.
// Q4_K / Q5_K: 8 sub-blocks of 32, weights av_x + |x| with av_x = sqrt(Σx²/32).
GGMLQ_AVX2 void k45_search_avx2(const float* x, int nmax, float rmin, float rdelta, int nstep, uint8_t* L, float* scales, float* mins) {
  alignas(32) float X[32 * 8], W[32 * 8];
  alignas(32) int32_t LL[32 * 8];
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 32; ++i) X[8 * i + j] = x[32 * j + i];
  __m256 sum_x2 = _mm256_setzero_ps();
  for (int i = 0; i < 32; ++i) {
    const __m256 xi = _mm256_load_ps(X + 8 * i);
    sum_x2 = _mm256_add_ps(sum_x2, _mm256_mul_ps(xi, xi));
  }
  const __m256 av_x = _mm256_sqrt_ps(_mm256_div_ps(sum_x2, _mm256_set1_ps(32.f)));
  for (int i = 0; i < 32; ++i) _mm256_store_ps(W + 8 * i, _mm256_add_ps(av_x, abs8(_mm256_load_ps(X + 8 * i))));
  make_qkx2_quants_x8(32, nmax, X, W, LL, scales, mins, rmin, rdelta, nstep, false);
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 32; ++i) L[32 * j + i] = (uint8_t)LL[8 * i + j];
}

// Q2_K: 16 sub-blocks of 16 (two batches of 8), weights |x|, mean absolute error.
GGMLQ_AVX2 void q2k_search_avx2(const float* x, uint8_t* L, float* scales, float* mins) {
  alignas(32) float X[16 * 8], W[16 * 8];
  alignas(32) int32_t LL[16 * 8];
  for (int half = 0; half < 2; ++half) {
    const float* xb = x + 128 * half;
    for (int j = 0; j < 8; ++j)
      for (int i = 0; i < 16; ++i) X[8 * i + j] = xb[16 * j + i];
    for (int i = 0; i < 16; ++i) _mm256_store_ps(W + 8 * i, abs8(_mm256_load_ps(X + 8 * i)));
    make_qkx2_quants_x8(16, 3, X, W, LL, scales + 8 * half, mins + 8 * half, -0.5f, 0.1f, 15, true);
    for (int j = 0; j < 8; ++j)
      for (int i = 0; i < 16; ++i) L[128 * half + 16 * j + i] = (uint8_t)LL[8 * i + j];
  }
}

// Q6_K: 16 sub-blocks of 16, make_qx_quants(16, 32, …, rmse_type 1, NULL).
GGMLQ_AVX2 void q6k_search_avx2(const float* x, int8_t* L, float* scales) {
  alignas(32) float X[16 * 8];
  alignas(32) int32_t LL[16 * 8];
  for (int half = 0; half < 2; ++half) {
    const float* xb = x + 128 * half;
    for (int j = 0; j < 8; ++j)
      for (int i = 0; i < 16; ++i) X[8 * i + j] = xb[16 * j + i];
    make_qx_quants_rmse1_x8(16, 32, X, LL, scales + 8 * half);
    for (int j = 0; j < 8; ++j)
      for (int i = 0; i < 16; ++i) L[128 * half + 16 * j + i] = (int8_t)LL[8 * i + j];
  }
}

// quantize_row_q8_0_ref for one block of 32 with all values finite (the caller checks): amax is then the
// true maximum whatever the order, roundf is emulated exactly (truncate, then away from zero at |frac| ≥ ½),
// and the levels fit int8 as the scalar conversion gives them. Returns false (nothing written) otherwise.
GGMLQ_AVX2 bool q8_0_block_avx2(const float* x, float& d_out, int8_t* qs) {
  const __m256 fmax = _mm256_set1_ps(FLT_MAX);
  __m256 v[4], a = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    const __m256 ak = abs8(v[k]);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(ak, fmax, _CMP_NLE_UQ));  // > FLT_MAX or NaN
    a = _mm256_max_ps(a, ak);
  }
  if (_mm256_movemask_ps(bad)) return false;
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  const float amax = _mm_cvtss_f32(m);
  const float d = amax / ((1 << 7) - 1);
  const float id = d ? 1.0f / d : 0.0f;
  d_out = d;
  const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.f);
  const __m256 sign = _mm256_set1_ps(-0.f);
  __m256i q[4];
  for (int k = 0; k < 4; ++k) {
    const __m256 x0 = _mm256_mul_ps(v[k], vid);
    const __m256 t = _mm256_round_ps(x0, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 away = _mm256_and_ps(_mm256_cmp_ps(abs8(_mm256_sub_ps(x0, t)), half, _CMP_GE_OQ), _mm256_or_ps(one, _mm256_and_ps(x0, sign)));
    q[k] = _mm256_cvttps_epi32(_mm256_add_ps(t, away));
  }
  const __m256i p16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  _mm256_storeu_si256((__m256i*)qs, _mm256_permutevar8x32_epi32(p16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  return true;
}

// Q3_K: 16 sub-blocks of 16, make_q3_quants(16, 4, …, true).
GGMLQ_AVX2 void q3k_search_avx2(const float* x, int8_t* L, float* scales) {
  alignas(32) float X[16 * 8];
  alignas(32) int32_t LL[16 * 8];
  for (int half = 0; half < 2; ++half) {
    const float* xb = x + 128 * half;
    for (int j = 0; j < 8; ++j)
      for (int i = 0; i < 16; ++i) X[8 * i + j] = xb[16 * j + i];
    make_q3_quants_rmse_x8(16, 4, X, LL, scales + 8 * half);
    for (int j = 0; j < 8; ++j)
      for (int i = 0; i < 16; ++i) L[128 * half + 16 * j + i] = (int8_t)LL[8 * i + j];
  }
}

#else
inline bool cpu_has_avx2() { return false; }
#endif
