// Native GGML block quantizers (llama.cpp's reference functions, bit for bit): see ggml_quants.cc.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace ggmlq {

// Whether `type` (an enum ggml_type id) has a native quantizer here.
bool supports(int type);
// Bytes of one row of n_per_row elements (0 for an unsupported type).
size_t row_bytes(int type, int64_t n_per_row);
// Quantizes nrows rows of n_per_row floats into dst (nrows · row_bytes bytes), as ggml_quantize_chunk
// does: imatrix (n_per_row weights, or null) applies to every row. Rows are spread over up to
// `threads` threads of the GEMM pool. Returns null, or why nothing was done.
const char* quantize(int type, const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix, int threads);

}  // namespace ggmlq
