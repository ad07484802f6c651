// Thread count and the deterministic chunked parallel loop that kernels.cc and elementwise.cc share.
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace kdcl {

extern std::atomic<int> g_threads;

// Below this many elements a loop runs on one thread: waking the team costs more than it saves.
constexpr int64_t kParallelMin = 1 << 17;

inline int team_size(int64_t work) { return work < kParallelMin ? 1 : g_threads.load(); }

// Runs body(begin, end) over [0, n) split into contiguous chunks, one per thread. The split depends only on n
// and the thread count, so results (including reductions combined in thread order) are deterministic.
template <class Body>
inline void parallel_chunks(int64_t n, int64_t grain, Body body) {
  const int team = team_size(n * grain);
  if (team <= 1) {
    body(int64_t{0}, n, 0);
    return;
  }
#pragma omp parallel num_threads(team)
  {
    const int t = omp_get_thread_num();
    const int count = omp_get_num_threads();
    // Chunks of 16 elements keep AVX-512 loads aligned to the arrays' start.
    const int64_t per = ((n + count - 1) / count + 15) / 16 * 16;
    const int64_t begin = std::min(n, per * t);
    const int64_t end = std::min(n, begin + per);
    if (begin < end) body(begin, end, t);
  }
}

}  // namespace kdcl
