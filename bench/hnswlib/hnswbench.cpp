// hnswbench: native hnswlib (Debian libhnswlib-dev, header-only 0.6.2) for
// imglish's ANN benchmark (search/annbench), compiled at bench time with
// g++ -O3 -march=native so hnswlib uses the CPU's widest SIMD (AVX-512
// where the CPU has it), as hnswlib's own build does.
//
// Usage: hnswbench DATA M EFC
// DATA is the file annbench writes (little-endian): magic "IMGANN01",
// uint32 n, q, dim, k, then n*dim float32 vectors, q*dim float32 queries,
// q*k uint32 exact neighbour ids. The process reads commands on stdin, one
// per line, and answers each with one JSON line on stdout, so annbench can
// interleave its own passes with these on one thread:
//   build       build a fresh index over all n vectors (inner product,
//               random_seed 100), one thread
//   search EF   one pass over all queries at ef=EF, k from the file
//   threads EF WORKERS REPS
//               WORKERS threads search the query set REPS times at ef=EF,
//               each taking the next query from a shared counter (as
//               annbench's own thread pass does); recall from the last
//               repetition
//   quit
// Times are wall (steady_clock) and process CPU (CLOCK_PROCESS_CPUTIME_ID).
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double wall_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return 0;
}

struct Data {
    uint32_t n = 0, q = 0, dim = 0, k = 0;
    std::vector<float> vecs, queries;
    std::vector<uint32_t> gt;
};

bool load(const char *path, Data &d) {
    std::ifstream f(path, std::ios::binary);
    char magic[8];
    if (!f.read(magic, 8) || std::memcmp(magic, "IMGANN01", 8) != 0) {
        return false;
    }
    uint32_t hdr[4];
    if (!f.read(reinterpret_cast<char *>(hdr), sizeof hdr)) {
        return false;
    }
    d.n = hdr[0], d.q = hdr[1], d.dim = hdr[2], d.k = hdr[3];
    d.vecs.resize(size_t(d.n) * d.dim);
    d.queries.resize(size_t(d.q) * d.dim);
    d.gt.resize(size_t(d.q) * d.k);
    return f.read(reinterpret_cast<char *>(d.vecs.data()), d.vecs.size() * 4) &&
           f.read(reinterpret_cast<char *>(d.queries.data()), d.queries.size() * 4) &&
           f.read(reinterpret_cast<char *>(d.gt.data()), d.gt.size() * 4);
}

// recall is the share of the exact top-k found, over all queries.
double recall(const Data &d, const std::vector<std::vector<hnswlib::labeltype>> &res) {
    size_t hit = 0;
    for (uint32_t i = 0; i < d.q; i++) {
        std::unordered_set<hnswlib::labeltype> want(d.gt.begin() + size_t(i) * d.k, d.gt.begin() + size_t(i + 1) * d.k);
        for (auto id : res[i]) {
            hit += want.count(id);
        }
    }
    return double(hit) / (double(d.q) * d.k);
}

// knn searches one query and returns its labels, best last.
std::vector<hnswlib::labeltype> knn(hnswlib::HierarchicalNSW<float> &index, const Data &d, uint32_t i) {
    auto pq = index.searchKnn(d.queries.data() + size_t(i) * d.dim, d.k);
    std::vector<hnswlib::labeltype> r;
    r.reserve(pq.size());
    while (!pq.empty()) {
        r.push_back(pq.top().second);
        pq.pop();
    }
    return r;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: hnswbench DATA M EFC\n");
        return 2;
    }
    Data d;
    if (!load(argv[1], d)) {
        std::fprintf(stderr, "hnswbench: cannot read %s\n", argv[1]);
        return 1;
    }
    const size_t m = std::stoul(argv[2]), efc = std::stoul(argv[3]);
    hnswlib::InnerProductSpace space(d.dim);
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
    std::vector<hnswlib::labeltype> found(d.k);
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream cmd(line);
        std::string op;
        cmd >> op;
        if (op == "build") {
            index.reset();
            const long rss0 = rss_kib();
            const double t0 = wall_seconds(), c0 = cpu_seconds();
            index = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space, d.n, m, efc, 100);
            for (uint32_t i = 0; i < d.n; i++) {
                index->addPoint(d.vecs.data() + size_t(i) * d.dim, i);
            }
            const double wall = wall_seconds() - t0, cpu = cpu_seconds() - c0;
            std::printf("{\"build_s\": %.6f, \"build_cpu_s\": %.6f, \"bytes_per_vector\": %.1f}\n", wall, cpu,
                        double(rss_kib() - rss0) * 1024 / d.n);
        } else if (op == "search" && index) {
            size_t ef = 0;
            cmd >> ef;
            index->setEf(ef);
            std::vector<std::vector<hnswlib::labeltype>> res(d.q);
            const double t0 = wall_seconds(), c0 = cpu_seconds();
            for (uint32_t i = 0; i < d.q; i++) {
                res[i] = knn(*index, d, i);
            }
            const double wall = wall_seconds() - t0, cpu = cpu_seconds() - c0;
            std::printf("{\"ef\": %zu, \"recall\": %.6f, \"s\": %.6f, \"cpu_s\": %.6f}\n", ef, recall(d, res), wall, cpu);
        } else if (op == "threads" && index) {
            size_t ef = 0, workers = 0, reps = 0;
            cmd >> ef >> workers >> reps;
            if (workers < 1 || reps < 1) {
                std::printf("{\"error\": \"bad command %s\"}\n", line.c_str());
                std::fflush(stdout);
                continue;
            }
            index->setEf(ef);
            std::vector<std::vector<hnswlib::labeltype>> res(d.q);
            const size_t total = reps * d.q;
            std::atomic<size_t> next{0};
            const double t0 = wall_seconds(), c0 = cpu_seconds();
            std::vector<std::thread> pool;
            for (size_t w = 0; w < workers; w++) {
                pool.emplace_back([&] {
                    for (size_t j = next.fetch_add(1); j < total; j = next.fetch_add(1)) {
                        auto r = knn(*index, d, uint32_t(j % d.q));
                        if (j >= total - d.q) {  // the last repetition: each query once
                            res[j % d.q] = std::move(r);
                        }
                    }
                });
            }
            for (auto &t : pool) {
                t.join();
            }
            const double wall = wall_seconds() - t0, cpu = cpu_seconds() - c0;
            std::printf("{\"ef\": %zu, \"recall\": %.6f, \"s\": %.6f, \"cpu_s\": %.6f}\n", ef, recall(d, res), wall, cpu);
        } else if (op == "quit") {
            return 0;
        } else {
            std::printf("{\"error\": \"bad command %s\"}\n", line.c_str());
        }
        std::fflush(stdout);
    }
    return 0;
}
