#!/usr/bin/env python3
"""llama.cpp's own quantizer as a reference for `npm run bench -- gguf-export`: ggml_quantize_chunk of the
libggml-base that node-llama-cpp ships, over the tensors of an F32 GGUF file, each to the type our exporter
gave it, on THREADS threads the way llama-quantize splits a tensor (chunks of ceil(32*512 / n_per_row) rows
taken from a shared counter; ctypes releases the GIL during each call). Per tensor: read its float32 data,
quantize, write the bytes to OUT (tensor after tensor), like llama-quantize's loop.

usage: ggml-reference.py LIB THREADS JOBS OUT
JOBS: one tensor per line: TYPE_ID N_PER_ROW NROWS SRC_FILE SRC_OFFSET
Prints one JSON line: {"quantize_s": seconds inside ggml_quantize_chunk (wall), "total_s": read + quantize + write,
"quantize_cpu_s": CPU seconds of all threads during the quantize calls, "total_cpu_s": the same for the whole loop}.
"""
import ctypes
import json
import sys
import threading
import time

import numpy as np

lib_path, threads, jobs_path, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lib = ctypes.CDLL(lib_path)
lib.ggml_quantize_chunk.restype = ctypes.c_size_t
lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
lib.ggml_row_size.restype = ctypes.c_size_t
lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
lib.ggml_quantize_init.argtypes = [ctypes.c_int]

jobs = []
for line in open(jobs_path):
    p = line.split()
    if p:
        jobs.append((int(p[0]), int(p[1]), int(p[2]), p[3], int(p[4])))
for t in {j[0] for j in jobs}:
    lib.ggml_quantize_init(t)


def quantize(type_id, src, n_per_row, nrows):
    row = lib.ggml_row_size(type_id, n_per_row)
    dst = np.empty(row * nrows, dtype=np.uint8)
    chunk = max(1, (32 * 512 + n_per_row - 1) // n_per_row)  # llama_tensor_quantize_impl's chunk rows
    counter = [0]
    lock = threading.Lock()
    sp, dp = src.ctypes.data, dst.ctypes.data

    def work():
        while True:
            with lock:
                first = counter[0]
                counter[0] += chunk
            if first >= nrows:
                return
            n = min(chunk, nrows - first)
            lib.ggml_quantize_chunk(type_id, sp, dp, first * n_per_row, n, n_per_row, None)

    if threads <= 1 or nrows <= chunk:
        work()
    else:
        ts = [threading.Thread(target=work) for _ in range(threads - 1)]
        for t in ts:
            t.start()
        work()
        for t in ts:
            t.join()
    return dst


t_total = time.perf_counter()
c_total = time.process_time()  # CPU time of every thread of this process
t_quant = 0.0
c_quant = 0.0
with open(out_path, "wb") as out:
    for type_id, n_per_row, nrows, src_file, off in jobs:
        src = np.fromfile(src_file, dtype=np.float32, count=n_per_row * nrows, offset=off)
        t0 = time.perf_counter()
        c0 = time.process_time()
        dst = quantize(type_id, src, n_per_row, nrows)
        t_quant += time.perf_counter() - t0
        c_quant += time.process_time() - c0
        out.write(dst.tobytes())
print(json.dumps({"quantize_s": t_quant, "total_s": time.perf_counter() - t_total,
                  "quantize_cpu_s": c_quant, "total_cpu_s": time.process_time() - c_total}))
