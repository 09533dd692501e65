#!/usr/bin/python3
"""Python reference side of imglish's benchmark (`make bench-ann`).

Reads the data file written by `go run ./search/annbench` (same vectors,
queries and exact top-k for Go and Python), builds hnswlib (and, unless
--skip-faiss, faiss) HNSW with M=16, efConstruction=128, and measures
single-thread recall@k and QPS at each ef. Prints one JSON object on stdout.

Run with Debian's /usr/bin/python3 (python3-hnswlib 0.6.2, python3-faiss).
Both are Debian's generic x86-64 builds (hnswlib's module has no 256- or
512-bit instructions), so annbench shows hnswlib from here only as a
labelled second row beside hnswlib compiled with -march=native
(bench/hnswlib), and passes --skip-faiss: faiss is out of the speed table.

File layout (little-endian): magic b"IMGANN01", uint32 n, q, dim, k, then
n*dim float32 vectors, q*dim float32 queries, q*k uint32 exact neighbour ids.
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def load(path):
    with open(path, "rb") as f:
        if f.read(8) != b"IMGANN01":
            sys.exit("bad magic")
        n, q, dim, k = np.frombuffer(f.read(16), dtype="<u4")
        x = np.frombuffer(f.read(4 * n * dim), dtype="<f4").reshape(n, dim)
        qs = np.frombuffer(f.read(4 * q * dim), dtype="<f4").reshape(q, dim)
        gt = np.frombuffer(f.read(4 * q * k), dtype="<u4").reshape(q, k)
    return x, qs, gt, int(k)


def recall(found, gt):
    hit = 0
    for f, g in zip(found, gt):
        hit += len(set(int(i) for i in f) & set(int(i) for i in g))
    return hit / gt.size


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bench_hnswlib(x, qs, gt, k, efs, m, efc):
    import hnswlib

    n, dim = x.shape
    before = rss_kib()
    idx = hnswlib.Index(space="ip", dim=dim)
    idx.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=100)
    idx.set_num_threads(1)
    t, c = time.perf_counter(), time.process_time()
    idx.add_items(x, np.arange(n), num_threads=1)
    build, build_cpu = time.perf_counter() - t, time.process_time() - c
    mem = (rss_kib() - before) * 1024
    out = {"name": "hnswlib 0.6.2", "n": n, "build_s": build, "inserts_per_s": n / build, "inserts_per_cpu_s": n / build_cpu,
           "bytes_per_vector": mem / n, "runs": []}
    for ef in efs:
        idx.set_ef(max(ef, k))
        dt = dc = float("inf")
        for _ in range(3):  # best of three passes: the machine is shared
            found = []
            t, c = time.perf_counter(), time.process_time()
            for qv in qs:
                labels, _ = idx.knn_query(qv, k=k, num_threads=1)
                found.append(labels[0])
            dt, dc = min(dt, time.perf_counter() - t), min(dc, time.process_time() - c)
        out["runs"].append({"ef": ef, "recall": recall(found, gt), "qps": len(qs) / dt, "qps_cpu": len(qs) / dc})
    return out


def bench_faiss(x, qs, gt, k, efs, m, efc, nbuild, threads):
    import faiss

    n = min(nbuild, x.shape[0])
    xs = np.ascontiguousarray(x[:n])
    # Ground truth for a prefix build must be recomputed over the prefix.
    if n < x.shape[0]:
        sims = qs @ xs.T
        gt = np.argsort(-sims, axis=1)[:, :k]
    faiss.omp_set_num_threads(threads)
    idx = faiss.IndexHNSWFlat(x.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efConstruction = efc
    t, c = time.perf_counter(), time.process_time()
    idx.add(xs)
    build, build_cpu = time.perf_counter() - t, time.process_time() - c
    faiss.omp_set_num_threads(1)
    out = {"name": "faiss %s HNSWFlat" % faiss.__version__, "n": n, "build_threads": threads,
           "build_s": build, "inserts_per_s": n / build, "inserts_per_cpu_s": n / build_cpu, "runs": []}
    for ef in efs:
        idx.hnsw.efSearch = max(ef, k)
        dt = dc = float("inf")
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            found = []
            for qv in qs:
                _, labels = idx.search(qv.reshape(1, -1), k)
                found.append(labels[0])
            dt, dc = min(dt, time.perf_counter() - t), min(dc, time.process_time() - c)
        out["runs"].append({"ef": ef, "recall": recall(found, gt), "qps": len(qs) / dt, "qps_cpu": len(qs) / dc})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--ef", default="16,24,32,64,128")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=128)
    ap.add_argument("--faiss-n", type=int, default=0, help="vectors for the faiss build (0 = all)")
    ap.add_argument("--faiss-threads", type=int, default=2)
    ap.add_argument("--skip-faiss", action="store_true")
    a = ap.parse_args()
    x, qs, gt, k = load(a.data)
    efs = [int(e) for e in a.ef.split(",")]
    res = {"hnswlib": bench_hnswlib(x, qs, gt, k, efs, a.m, a.efc)}
    if not a.skip_faiss:
        res["faiss"] = bench_faiss(x, qs, gt, k, efs, a.m, a.efc, a.faiss_n or x.shape[0], a.faiss_threads)
    json.dump(res, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
