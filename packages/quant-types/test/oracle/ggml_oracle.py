#!/usr/bin/env python3
"""Quantizes float32 rows with llama.cpp's own ggml (libggml-base from node-llama-cpp's prebuilt
binaries) through ggml_quantize_chunk, so tests can compare our bytes with the real thing.

usage: ggml_oracle.py LIB JOBS
JOBS is a text file with one job per line: TYPE_ID N_PER_ROW IN.f32 OUT.bin [IMATRIX.f32]
"""
import ctypes
import sys

import numpy as np

lib_path, jobs_path = sys.argv[1:3]
lib = ctypes.CDLL(lib_path)
lib.ggml_quantize_chunk.restype = ctypes.c_size_t
lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
lib.ggml_row_size.restype = ctypes.c_size_t
lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
lib.ggml_quantize_init.argtypes = [ctypes.c_int]

for line in open(jobs_path):
    parts = line.split()
    if not parts:
        continue
    type_id, n_per_row, src_path, out_path = int(parts[0]), int(parts[1]), parts[2], parts[3]
    imatrix = np.fromfile(parts[4], dtype=np.float32) if len(parts) > 4 else None
    src = np.fromfile(src_path, dtype=np.float32)
    nrows = src.size // n_per_row
    lib.ggml_quantize_init(type_id)
    row = lib.ggml_row_size(type_id, n_per_row)
    dst = np.zeros(row * nrows, dtype=np.uint8)
    n = lib.ggml_quantize_chunk(type_id, src.ctypes.data, dst.ctypes.data, 0, nrows, n_per_row,
                                imatrix.ctypes.data if imatrix is not None else None)
    assert n == dst.size, (n, dst.size)
    dst.tofile(out_path)
