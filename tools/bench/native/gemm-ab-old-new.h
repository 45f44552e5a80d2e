// The A/B harnesses' common header: OLD_DIR's gemm_native.h under the namespace gemm_old beside the working tree's
// gemm (both objects linked in, gemm-bitcheck.cc has the build lines), and process CPU / wall clocks.
#pragma once
#include <ctime>
#define STR2(x) #x
#define STR(x) STR2(x)
#define gemm gemm_old
#include STR(OLD_DIR/gemm_native.h)
#undef gemm
#include "../../../packages/kernels-cpu/native/gemm_native.h"
static inline double pcpu() { timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
static inline double wall() { timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
