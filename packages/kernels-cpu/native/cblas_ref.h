// A system CBLAS (OpenBLAS, BLIS, MKL's cblas) loaded at run time with dlopen, for one purpose: the
// gemm benchmark measures it beside our kernels in the same windows, as the reference of what a tuned
// BLAS does on this machine at that moment. Nothing in the product calls it.
#pragma once
#include <string>

#include "gemm_core.h"

namespace cblas_ref {

struct Loaded {
  std::string error;  // empty when loaded
  std::string core;   // openblas_get_corename() when the library has it, else ""
  std::string config; // openblas_get_config() when the library has it, else ""
};

// dlopen(path) and look up cblas_sgemm (and OpenBLAS's thread and core queries when present).
// Loading again with another path replaces the library in use.
Loaded load(const char* path);
bool loaded();
// C = alpha·op(A)·op(B) + beta·C through cblas_sgemm (row-major), on `threads` threads when the
// library lets us set them.
void sgemm(const gemm::Args& g, int threads);

}  // namespace cblas_ref
