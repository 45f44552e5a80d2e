// Group loops of qdq.cc, included once per instruction set inside namespace QDQ_NS (see there). No include
// guard on purpose. Every expression is the TypeScript's, in its order: the ISA only changes how many
// elements one instruction handles (IEEE results do not depend on the vector width; no FMA contraction).
#include <cstdint>
namespace QDQ_NS {

// Expected included from qdq.cc with <immintrin.h> when QDQ_AVX512 is defined.

// One group of n elements: out = scale·(clamp(code) − zp), code = clamp(rint(float(W/scale + V)) + zp, −1, qmax+1).
inline void forward_group(const float* __restrict w, const float* __restrict v, float s, double z, double hi, int qmax,
                          long n, float* __restrict out, int16_t* __restrict code) {
  long c = 0;
#ifdef QDQ_AVX512
  // 16 elements a step, in two halves of 8 doubles; each lane does the scalar loop's operations below.
  const __m512 sv = _mm512_set1_ps(s);
  const __m512d zv = _mm512_set1_pd(z), sd = _mm512_set1_pd((double)s), lo = _mm512_set1_pd(-1.0),
                hiv = _mm512_set1_pd(hi);
  const __m256i zero = _mm256_setzero_si256(), qm = _mm256_set1_epi32(qmax);
  for (; c + 16 <= n; c += 16) {
    const __m512 u = _mm512_add_ps(_mm512_div_ps(_mm512_loadu_ps(w + c), sv), _mm512_loadu_ps(v + c));
    // nearbyint: the current rounding mode (half to even), no precision exception
    const __m512 r = _mm512_roundscale_ps(u, _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC);
    __m256 o[2];
    __m128i cs[2];
    for (int h = 0; h < 2; h++) {
      __m512d x = _mm512_add_pd(_mm512_cvtps_pd(h ? _mm512_extractf32x8_ps(r, 1) : _mm512_castps512_ps256(r)), zv);
      x = _mm512_mask_mov_pd(x, _mm512_cmp_pd_mask(x, lo, _CMP_LT_OQ), lo);
      x = _mm512_mask_mov_pd(x, _mm512_cmp_pd_mask(x, hiv, _CMP_GT_OQ), hiv);
      const __m256i ci = _mm256_mask_mov_epi32(_mm512_cvttpd_epi32(x), _mm512_cmp_pd_mask(x, x, _CMP_UNORD_Q), zero);
      cs[h] = _mm256_cvtepi32_epi16(ci);
      const __m256i cl = _mm256_max_epi32(zero, _mm256_min_epi32(ci, qm));
      o[h] = _mm512_cvtpd_ps(_mm512_mul_pd(sd, _mm512_sub_pd(_mm512_cvtepi32_pd(cl), zv)));
    }
    _mm256_storeu_ps(out + c, o[0]);
    _mm256_storeu_ps(out + c + 8, o[1]);
    _mm_storeu_si128((__m128i*)(code + c), cs[0]);
    _mm_storeu_si128((__m128i*)(code + c + 8), cs[1]);
  }
#endif
  for (; c < n; c++) {
    const float q = w[c] / s;
    const float u = q + v[c];
    double x = std::nearbyint((double)u) + z;
    x = x < -1 ? -1 : x;
    x = x > hi ? hi : x;
    // NaN: JS `NaN | 0` is 0 (the clamps above keep NaN, as the TypeScript's comparisons do)
    const int code_v = x != x ? 0 : (int)x;
    code[c] = (int16_t)code_v;
    const int cl = code_v < 0 ? 0 : code_v > qmax ? qmax : code_v;
    out[c] = (float)((double)s * ((double)cl - z));
  }
}

// dV += gW·scale inside the clamp (no per-group sums).
inline void backward_dv_group(const float* __restrict gw, const int16_t* __restrict code, double s, int qmax, long n,
                              float* __restrict dv) {
  long c = 0;
#ifdef QDQ_AVX512
  const __m512d sd = _mm512_set1_pd(s);
  const __m256i zero = _mm256_setzero_si256(), qm = _mm256_set1_epi32(qmax);
  for (; c + 8 <= n; c += 8) {
    const __m256i q = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i*)(code + c)));
    const __mmask8 in = _mm256_cmp_epi32_mask(q, zero, _MM_CMPINT_NLT) & _mm256_cmp_epi32_mask(q, qm, _MM_CMPINT_LE);
    const __m256 d = _mm256_loadu_ps(dv + c);
    const __m512d upd = _mm512_add_pd(_mm512_cvtps_pd(d), _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(gw + c)), sd));
    _mm256_storeu_ps(dv + c, _mm256_mask_mov_ps(d, in, _mm512_cvtpd_ps(upd)));
  }
#endif
  for (; c < n; c++) {
    const int q = code[c];
    const double upd = (double)dv[c] + (double)gw[c] * s;
    dv[c] = q >= 0 && q <= qmax ? (float)upd : dv[c];
  }
}

// The group's four sums, each added in element order. An element outside the clamp adds +0.0 to the inside sums
// instead of nothing: a sum that starts at +0 is never −0, so x + 0 = x exactly (NaN and ±Inf included).
inline void backward_sums_group(const float* __restrict w, const float* __restrict gw, const int16_t* __restrict code,
                                double s, double z, int qmax, long n, float* __restrict dv, double* acc) {
  double o = 0, divw = 0, sum_in = 0, sum_all = 0;
  for (long c = 0; c < n; c++) {
    const double g = gw[c];
    const int q = code[c];
    const double dq = g * s;
    const bool in = q >= 0 && q <= qmax;
    sum_all += dq;
    const int qc = in ? q : (q < 0 ? 0 : qmax);
    o += g * ((double)qc - z);
    sum_in += in ? dq : 0.0;
    divw += in ? dq * (double)w[c] : 0.0;
  }
  if (dv) backward_dv_group(gw, code, s, qmax, n, dv);
  acc[0] = o;
  acc[1] = divw;
  acc[2] = sum_in;
  acc[3] = sum_all;
}

// ---- RTN of quant-types' quantizeInt: the group's min and max (from 0), and its element loop given scale and zp.

typedef float rtn_v16 __attribute__((vector_size(64)));
typedef float rtn_v16u __attribute__((vector_size(64), aligned(4)));

// mn = min(0, w…), mx = max(0, w…) as `if (w < mn) mn = w; if (w > mx) mx = w` gives: 16 lanes each keep that running
// value, then the lanes are combined the same way. NaN is skipped (its comparisons are false); between +0 and −0 the
// first one stays, and every lane starts at +0 as the loop does, so a −0 never replaces it either way.
inline void rtn_minmax(const float* __restrict w, long n, float* mn_out, float* mx_out) {
  rtn_v16 vmn = (rtn_v16){}, vmx = (rtn_v16){};
  long c = 0;
  for (; c + 16 <= n; c += 16) {
    const rtn_v16 x = *(const rtn_v16u*)(w + c);
    vmn = x < vmn ? x : vmn;
    vmx = x > vmx ? x : vmx;
  }
  float mn = 0.f, mx = 0.f;
  for (int l = 0; l < 16; l++) {
    mn = vmn[l] < mn ? vmn[l] : mn;
    mx = vmx[l] > mx ? vmx[l] : mx;
  }
  for (; c < n; c++) {
    mn = w[c] < mn ? w[c] : mn;
    mx = w[c] > mx ? w[c] : mx;
  }
  *mn_out = mn;
  *mx_out = mx;
}

// asym: code = clamp(rne(float(W/s [+ V])) + zp, 0, maxq), qdq = float(s·(code − zp)) with the clamped value in
// double (NaN stays NaN and its code is 0, as a Uint8Array stores NaN). sym: q = clamp(rne(…), −maxq, maxq − 1),
// code = q + maxq, qdq = float(s·q).
inline void rtn_elements(const float* __restrict w, const float* __restrict v, float s, double zp, double maxq, bool sym,
                         long n, uint8_t* __restrict codes, float* __restrict qdq) {
  const double sd = s;
  if (!sym) {
    for (long c = 0; c < n; c++) {
      float x = w[c] / s;
      if (v) x = x + v[c];
      double q = std::nearbyint((double)x) + zp;
      q = q < 0 ? 0 : q;
      q = q > maxq ? maxq : q;
      codes[c] = q != q ? 0 : (uint8_t)(int)q;
      qdq[c] = (float)(sd * (q - zp));
    }
    return;
  }
  for (long c = 0; c < n; c++) {
    float x = w[c] / s;
    if (v) x = x + v[c];
    double q = std::nearbyint((double)x);
    q = q < -maxq ? -maxq : q;
    q = q > maxq - 1 ? maxq - 1 : q;
    codes[c] = q != q ? 0 : (uint8_t)(int)(q + maxq);
    qdq[c] = (float)(sd * q);
  }
}

}  // namespace QDQ_NS
