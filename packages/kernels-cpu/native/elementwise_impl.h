// Range loops of elementwise.cc, included once per instruction set (see there). No include guard
// on purpose.
namespace ELEM_NS {

inline double fast_exp(double x) {
  const double LOG2E = 1.4426950408889634;
  const double LN2 = 0.6931471805599453;
  const double RNE_MAGIC = 6755399441055744.0;
  double t = x * LOG2E;
  t = t < -190 ? -190 : t > 190 ? 190 : t;
  const double k = t + RNE_MAGIC - RNE_MAGIC;  // rounds half to even; not folded without -ffast-math
  const double y = (t - k) * LN2;
  const double p =
      1 + y * (1 + y * (0.5 + y * (0.16666666666666666 +
                                   y * (0.041666666666666664 +
                                        y * (0.008333333333333333 + y * (0.001388888888888889 + y * 0.0001984126984126984))))));
  const int ki = k == k ? (int)k : 0;  // NaN: JS `NaN | 0` is 0 (the product stays NaN)
  return p * kPow2[ki + 200];
}

inline void swiglu_forward(const float* __restrict g, const float* __restrict u, float* __restrict out, long a, long b) {
  for (long i = a; i < b; i++) {
    const double x = g[i];
    const float act = (float)(x / (1 + fast_exp(-x)));
    out[i] = (float)((double)act * (double)u[i]);
  }
}

// FG/FU: the gradient buffer is fresh (its contents are ignored: 0 + value, as a zero-filled one would give,
// −0 becoming +0). Template parameters, not run-time tests: a test in the loop stops its vectorization (5x slower).
template <bool FG, bool FU>
inline void swiglu_backward_t(const float* __restrict g, const float* __restrict u, const float* __restrict gy,
                              float* __restrict gg, float* __restrict gu, long a, long b) {
  if (gg && gu) {
    for (long i = a; i < b; i++) {
      const double x = g[i];
      const double s = 1 / (1 + fast_exp(-x));
      const double dy = gy[i];
      gg[i] = (float)((FG ? 0.0 : (double)gg[i]) + dy * (double)u[i] * s * (1 + x * (1 - s)));
      gu[i] = (float)((FU ? 0.0 : (double)gu[i]) + dy * x * s);
    }
  } else if (gg) {
    for (long i = a; i < b; i++) {
      const double x = g[i];
      const double s = 1 / (1 + fast_exp(-x));
      gg[i] = (float)((FG ? 0.0 : (double)gg[i]) + (double)gy[i] * (double)u[i] * s * (1 + x * (1 - s)));
    }
  } else {
    for (long i = a; i < b; i++) {
      const double x = g[i];
      const double s = 1 / (1 + fast_exp(-x));
      gu[i] = (float)((FU ? 0.0 : (double)gu[i]) + (double)gy[i] * x * s);
    }
  }
}

inline void swiglu_backward(const float* __restrict g, const float* __restrict u, const float* __restrict gy,
                            float* __restrict gg, float* __restrict gu, bool fresh_g, bool fresh_u, long a, long b) {
  if (fresh_g && fresh_u) swiglu_backward_t<true, true>(g, u, gy, gg, gu, a, b);
  else if (fresh_g) swiglu_backward_t<true, false>(g, u, gy, gg, gu, a, b);
  else if (fresh_u) swiglu_backward_t<false, true>(g, u, gy, gg, gu, a, b);
  else swiglu_backward_t<false, false>(g, u, gy, gg, gu, a, b);
}

inline void rmsnorm_forward(const float* __restrict x, const float* __restrict w, float* __restrict out,
                            float* __restrict rstd, long d, double eps, long a, long b) {
  for (long r = a; r < b; r++) {
    const float* xr = x + r * d;
    float* yr = out + r * d;
    double ss = 0;
    for (long i = 0; i < d; i++) ss += (double)xr[i] * (double)xr[i];
    const float mean = (float)(ss / (double)d);
    const float var = (float)((double)mean + eps);
    const float rs = (float)(1 / std::sqrt((double)var));
    rstd[r] = rs;
    for (long i = 0; i < d; i++) yr[i] = (float)((double)w[i] * (double)(float)((double)xr[i] * (double)rs));
  }
}

inline void rmsnorm_backward_x(const float* __restrict x, const float* __restrict w, const float* __restrict rstd,
                               const float* __restrict gy, float* __restrict gx, bool fresh, long d, long a, long b) {
  for (long r = a; r < b; r++) {
    const long o = r * d;
    const double rs = rstd[r];
    double dot = 0;
    for (long i = 0; i < d; i++) dot += (double)gy[o + i] * (double)w[i] * (double)x[o + i];
    const double c = (rs * rs * rs * dot) / (double)d;
    if (fresh)
      for (long i = 0; i < d; i++) gx[o + i] = (float)(0.0 + (rs * (double)gy[o + i] * (double)w[i] - (double)x[o + i] * c));
    else
      for (long i = 0; i < d; i++)
        gx[o + i] = (float)((double)gx[o + i] + (rs * (double)gy[o + i] * (double)w[i] - (double)x[o + i] * c));
  }
}

inline void rmsnorm_backward_w(const float* __restrict x, const float* __restrict rstd, const float* __restrict gy,
                               float* __restrict gw, long rows, long d, long a, long b) {
  for (long r = 0; r < rows; r++) {
    const long o = r * d;
    const double rs = rstd[r];
    for (long i = a; i < b; i++) gw[i] = (float)((double)gw[i] + (double)gy[o + i] * (double)x[o + i] * rs);
  }
}

inline void rope(bool backward, const float* __restrict src, float* __restrict dst, const float* __restrict cos,
                 const float* __restrict sin, const int32_t* __restrict pos, long heads, long hd, long rot, bool fresh,
                 long a, long b) {
  const long half = rot / 2;
  for (long n = a; n < b; n++) {
    const float* c = cos + (long)pos[n] * hd;
    const float* s = sin + (long)pos[n] * hd;
    for (long h = 0; h < heads; h++) {
      const long o = (n * heads + h) * hd;
      if (!backward) {
        for (long i = 0; i < half; i++) {
          const double x1 = src[o + i], x2 = src[o + half + i];
          dst[o + i] = (float)(x1 * (double)c[i] - x2 * (double)s[i]);
          dst[o + half + i] = (float)(x2 * (double)c[half + i] + x1 * (double)s[half + i]);
        }
        for (long i = rot; i < hd; i++) dst[o + i] = src[o + i];
      } else {
        for (long i = 0; i < half; i++) {
          const double g1 = src[o + i], g2 = src[o + half + i];
          dst[o + i] = (float)((fresh ? 0.0 : (double)dst[o + i]) + (g1 * (double)c[i] + g2 * (double)s[half + i]));
          dst[o + half + i] = (float)((fresh ? 0.0 : (double)dst[o + half + i]) + (g2 * (double)c[half + i] - g1 * (double)s[i]));
        }
        for (long i = rot; i < hd; i++) dst[o + i] = (float)((fresh ? 0.0 : (double)dst[o + i]) + (double)src[o + i]);
      }
    }
  }
}

}  // namespace ELEM_NS
