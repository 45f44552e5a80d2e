#include "cblas_ref.h"

#if defined(__linux__) || defined(__APPLE__)
#include <dlfcn.h>
#define CBLAS_REF_DLOPEN 1
#endif

namespace cblas_ref {
namespace {

// The CBLAS enum values (cblas.h): fixed by the reference interface, the same in every library.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

typedef void (*SgemmFn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                        const float* b, int ldb, float beta, float* c, int ldc);
typedef void (*SetThreadsFn)(int);
typedef char* (*NameFn)();

void* g_lib = nullptr;
SgemmFn g_sgemm = nullptr;
SetThreadsFn g_set_threads = nullptr;
int g_threads = -1;

}  // namespace

Loaded load(const char* path) {
  Loaded out;
#ifdef CBLAS_REF_DLOPEN
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    out.error = e ? e : "dlopen failed";
    return out;
  }
  SgemmFn sgemm = (SgemmFn)dlsym(lib, "cblas_sgemm");
  if (!sgemm) {
    out.error = std::string(path) + " has no cblas_sgemm";
    dlclose(lib);
    return out;
  }
  g_lib = lib;  // the previous library stays mapped: its threads may still be parked
  g_sgemm = sgemm;
  g_set_threads = (SetThreadsFn)dlsym(lib, "openblas_set_num_threads");
  g_threads = -1;
  if (NameFn core = (NameFn)dlsym(lib, "openblas_get_corename")) out.core = core();
  if (NameFn config = (NameFn)dlsym(lib, "openblas_get_config")) out.config = config();
#else
  (void)path;
  out.error = "loading a CBLAS at run time is only supported on Linux and macOS";
#endif
  return out;
}

bool loaded() { return g_sgemm != nullptr; }

void sgemm(const gemm::Args& g, int threads) {
  if (!g_sgemm) return;
  if (g_set_threads && threads != g_threads) {
    g_set_threads(threads);
    g_threads = threads;
  }
  g_sgemm(kRowMajor, g.ta ? kTrans : kNoTrans, g.tb ? kTrans : kNoTrans, (int)g.m, (int)g.n, (int)g.k, g.alpha,
          g.a, (int)g.lda, g.b, (int)g.ldb, g.beta, g.c, (int)g.ldc);
}

}  // namespace cblas_ref
