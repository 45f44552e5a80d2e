// See signround_fused.h. No fused multiply-add contraction and no reassociation (the results must equal the
// TypeScript loops'); the element loops are independent per element, so they vectorize and split over threads
// without changing a bit. The loss sum is one sequential double accumulation, as in Graph.mse.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "signround_fused.h"

#include <napi.h>

#include "gemm_native.h"
#include "napi_args.h"

namespace srfused {

namespace {
constexpr long kGrain = 65536;

// [0, n) in at most 2 tasks per thread of at least kGrain items each.
template <typename F>
void split(long n, int threads, F fn) {
  if (n <= 0) return;
  long tasks = (n + kGrain - 1) / kGrain;
  const long most = (long)threads * 2;
  if (tasks > most) tasks = most;
  if (tasks < 1) tasks = 1;
  if (tasks == 1) {
    fn(0, n);
    return;
  }
  const long per = ((n + tasks - 1) / tasks + 15) & ~15L;
  gemm::parallel_for(threads, tasks, [&](long t) {
    const long a = t * per;
    const long b = a + per < n ? a + per : n;
    if (a < b) fn(a, b);
  });
}
}  // namespace

void add(const float* __restrict a, const float* __restrict b, float* __restrict y, long n, int threads) {
  split(n, threads, [&](long s, long e) {
    for (long i = s; i < e; i++) y[i] = a[i] + b[i];
  });
}

void accumulate(float* __restrict g, const float* __restrict src, long n, int threads) {
  split(n, threads, [&](long s, long e) {
    for (long i = s; i < e; i++) g[i] = g[i] + src[i];
  });
}

double mse_forward(const float* p, const float* t, const float* mask, long rows, long d) {
  double acc = 0;
  for (long r = 0; r < rows; r++) {
    const long o = r * d;
    if (mask) {
      const double m = mask[r];
      for (long i = 0; i < d; i++) {
        const double e = (double)(float)((double)p[o + i] * m) - (double)(float)((double)t[o + i] * m);
        acc += e * e;
      }
    } else {
      for (long i = 0; i < d; i++) {
        const double e = (double)p[o + i] - (double)t[o + i];
        acc += e * e;
      }
    }
  }
  return acc;
}

void mse_backward(const float* __restrict p, const float* __restrict t, const float* __restrict mask, long rows,
                  long d, double c, float* __restrict gp, int threads, bool fresh) {
  split(rows, threads > 1 ? threads : 1, [&](long a, long b) {
    for (long r = a; r < b; r++) {
      const long o = r * d;
      if (mask) {
        const double m = mask[r];
        if (m == 0) {
          if (fresh)
            for (long i = 0; i < d; i++) gp[o + i] = 0;
          continue;
        }
        const double cm = c * m;
        for (long i = 0; i < d; i++)
          gp[o + i] = (float)((fresh ? 0.0 : (double)gp[o + i]) +
                              cm * ((double)(float)((double)p[o + i] * m) - (double)(float)((double)t[o + i] * m)));
      } else {
        for (long i = 0; i < d; i++) gp[o + i] = (float)((fresh ? 0.0 : (double)gp[o + i]) + c * ((double)p[o + i] - (double)t[o + i]));
      }
    }
  });
}

void sign_step(float* __restrict data, const float* __restrict grad, long n, double lr, int threads) {
  split(n, threads, [&](long s, long e) {
    // branch free: x − lr·σ with σ ∈ {−1, 0, 1} is exactly x − lr, x + lr or x (x − 0 keeps −0 and NaN)
    for (long i = s; i < e; i++) {
      const float g = grad[i];
      const double sg = (double)(g > 0) - (double)(g < 0);
      data[i] = (float)((double)data[i] - lr * sg);
    }
  });
}

// ------------------------------------------------------------------------------------------------ binding

namespace {

using napi_args::f32;
using napi_args::fail;
using napi_args::length;
using napi_args::thread_count;

// addInto(a, b, y, threads): y = a + b over y's length.
Napi::Value Add(const Napi::CallbackInfo& info) {
  if (info.Length() < 4) return fail(info.Env(), "addInto: expected (a, b, y, threads)");
  const double n = length(info[2]);
  float *a, *b, *y;
  if (!(n >= 0 && f32(info[0], n, &a) && f32(info[1], n, &b) && f32(info[2], n, &y)))
    return fail(info.Env(), "addInto: a, b and y must be Float32Arrays of at least y's length");
  add(a, b, y, (long)n, thread_count(info[3]));
  return info.Env().Undefined();
}

// accumulate(g, src, threads): g += src over g's length.
Napi::Value Accumulate(const Napi::CallbackInfo& info) {
  if (info.Length() < 3) return fail(info.Env(), "accumulate: expected (g, src, threads)");
  const double n = length(info[0]);
  float *g, *s;
  if (!(n >= 0 && f32(info[0], n, &g) && f32(info[1], n, &s)))
    return fail(info.Env(), "accumulate: g and src must be Float32Arrays of at least g's length");
  accumulate(g, s, (long)n, thread_count(info[2]));
  return info.Env().Undefined();
}

// mse(backward, pred, target, mask|null, d, c, gp|null, threads, fresh?): forward returns Σe²; backward adds c·e into
// gp (fresh = 1: gp's contents are ignored).
Napi::Value Mse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 8) return fail(env, "mse: expected 8 arguments");
  const bool bwd = info[0].ToBoolean().Value();
  const double n = length(info[1]);
  const double d = info[4].ToNumber().DoubleValue();
  if (!(n >= 0 && d >= 1 && d == (double)(long)d && (long)n % (long)d == 0)) return fail(env, "mse: pred must hold whole rows of d");
  const double rows = n / d;
  float *p, *t, *m, *gp = nullptr;
  if (!(f32(info[1], n, &p) && f32(info[2], n, &t) && f32(info[3], rows, &m, true) && (!bwd || f32(info[6], n, &gp))))
    return fail(env, "mse: an array has the wrong type or too few elements");
  if (!bwd) return Napi::Number::New(env, mse_forward(p, t, m, (long)rows, (long)d));
  const bool fresh = info.Length() > 8 && info[8].IsNumber() && (info[8].ToNumber().Int32Value() & 1);
  mse_backward(p, t, m, (long)rows, (long)d, info[5].ToNumber().DoubleValue(), gp, thread_count(info[7]), fresh);
  return env.Undefined();
}

// signStep(data, grad, lr, threads).
Napi::Value SignStep(const Napi::CallbackInfo& info) {
  if (info.Length() < 4) return fail(info.Env(), "signStep: expected (data, grad, lr, threads)");
  const double n = length(info[0]);
  float *d, *g;
  if (!(n >= 0 && f32(info[0], n, &d) && f32(info[1], n, &g)))
    return fail(info.Env(), "signStep: data and grad must be Float32Arrays of at least data's length");
  sign_step(d, g, (long)n, info[2].ToNumber().DoubleValue(), thread_count(info[3]));
  return info.Env().Undefined();
}

}  // namespace

void register_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("addInto", Napi::Function::New(env, Add, "addInto"));
  exports.Set("accumulate", Napi::Function::New(env, Accumulate, "accumulate"));
  exports.Set("mse", Napi::Function::New(env, Mse, "mse"));
  exports.Set("signStep", Napi::Function::New(env, SignStep, "signStep"));
}

}  // namespace srfused
