// kdcl's own loops: elementwise ops, reductions and batch norm. Built once per ISA level, each copy in its own
// namespace (KDCL_ISA_NS: isa_base with the baseline flags, isa_v4 with -march=x86-64-v4); kernels.cc picks one
// at load time. The loops are plain C++ that the compiler vectorises for the level it builds.
#include <cmath>
#include <vector>

#include "elementwise.h"
#include "parallel.h"

#ifndef KDCL_ISA_NS
#error "build elementwise.cc with -DKDCL_ISA_NS=isa_base or -DKDCL_ISA_NS=isa_v4"
#endif

namespace kdcl {
namespace KDCL_ISA_NS {

namespace {

template <class F>
void binary_loop(int rank, const int64_t* shape, const float* a, const int64_t* as, const float* b, const int64_t* bs,
                 float* out, F f) {
  // Merge adjacent dims that both operands walk contiguously (or both broadcast), so typical cases reduce to
  // one or two dims.
  int64_t sh[8], sa[8], sb[8];
  int r = 0;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    if (r > 0 && sa[r - 1] == as[d] * shape[d] && sb[r - 1] == bs[d] * shape[d]) {
      sh[r - 1] *= shape[d];
      sa[r - 1] = as[d];
      sb[r - 1] = bs[d];
      continue;
    }
    sh[r] = shape[d];
    sa[r] = as[d];
    sb[r] = bs[d];
    ++r;
  }
  if (r == 0) {
    out[0] = f(a[0], b[0]);
    return;
  }
  const int64_t inner = sh[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  int64_t rows = 1;
  for (int d = 0; d < r - 1; ++d) rows *= sh[d];
  auto run_inner = [&](const float* pa, const float* pb, float* po, int64_t begin, int64_t end) {
    if (ia == 1 && ib == 1) {
      for (int64_t j = begin; j < end; ++j) po[j] = f(pa[j], pb[j]);
    } else if (ia == 1 && ib == 0) {
      const float vb = pb[0];
      for (int64_t j = begin; j < end; ++j) po[j] = f(pa[j], vb);
    } else if (ia == 0 && ib == 1) {
      const float va = pa[0];
      for (int64_t j = begin; j < end; ++j) po[j] = f(va, pb[j]);
    } else {
      for (int64_t j = begin; j < end; ++j) po[j] = f(pa[j * ia], pb[j * ib]);
    }
  };
  if (rows == 1) {
    parallel_chunks(inner, 1, [&](int64_t begin, int64_t end, int) { run_inner(a, b, out, begin, end); });
    return;
  }
  parallel_chunks(rows, inner, [&](int64_t begin, int64_t end, int) {
    for (int64_t row = begin; row < end; ++row) {
      int64_t rest = row, oa = 0, ob = 0;
      for (int d = r - 2; d >= 0; --d) {
        const int64_t i = rest % sh[d];
        rest /= sh[d];
        oa += i * sa[d];
        ob += i * sb[d];
      }
      run_inner(a + oa, b + ob, out + row * inner, 0, inner);
    }
  });
}

template <class F>
void unary_loop(int64_t size, const float* x, float* out, F f) {
  parallel_chunks(size, 1, [&](int64_t begin, int64_t end, int) {
    // Local copies: otherwise the compiler must assume `out` may alias the closure (e.g. step's alpha) and
    // reloads it every element instead of vectorising.
    const F fn = f;
    const float* __restrict src = x;
    float* __restrict dst = out;
    for (int64_t i = begin; i < end; ++i) dst[i] = fn(src[i]);
  });
}

}  // namespace

void binary(BinaryOp op, int rank, const int64_t* shape, const float* a, const int64_t* as, const float* b,
            const int64_t* bs, float* out) {
  switch (op) {
    case BinaryOp::Add: return binary_loop(rank, shape, a, as, b, bs, out, [](float x, float y) { return x + y; });
    case BinaryOp::Sub: return binary_loop(rank, shape, a, as, b, bs, out, [](float x, float y) { return x - y; });
    case BinaryOp::Mul: return binary_loop(rank, shape, a, as, b, bs, out, [](float x, float y) { return x * y; });
    case BinaryOp::Div: return binary_loop(rank, shape, a, as, b, bs, out, [](float x, float y) { return x / y; });
    // tfjs's Maximum/Minimum propagate NaN.
    case BinaryOp::Max:
      return binary_loop(rank, shape, a, as, b, bs, out,
                         [](float x, float y) { return (x != x || y != y) ? NAN : (x > y ? x : y); });
    case BinaryOp::Min:
      return binary_loop(rank, shape, a, as, b, bs, out,
                         [](float x, float y) { return (x != x || y != y) ? NAN : (x < y ? x : y); });
    case BinaryOp::SquaredDiff:
      return binary_loop(rank, shape, a, as, b, bs, out, [](float x, float y) { return (x - y) * (x - y); });
  }
}

void unary(UnaryOp op, int64_t size, const float* x, float* out, float alpha) {
  switch (op) {
    // tfjs's relu keeps NaN; step maps NaN to NaN.
    case UnaryOp::Relu: return unary_loop(size, x, out, [](float v) { return v < 0.f ? 0.f : v; });
    case UnaryOp::Step:
      return unary_loop(size, x, out, [alpha](float v) {
        const float s = v > 0.f ? 1.f : alpha;
        return std::isnan(v) ? v : s;
      });
    case UnaryOp::Neg: return unary_loop(size, x, out, [](float v) { return -v; });
    case UnaryOp::Square: return unary_loop(size, x, out, [](float v) { return v * v; });
    case UnaryOp::Sqrt: return unary_loop(size, x, out, [](float v) { return std::sqrt(v); });
    case UnaryOp::Rsqrt: return unary_loop(size, x, out, [](float v) { return 1.f / std::sqrt(v); });
    case UnaryOp::Exp: return unary_loop(size, x, out, [](float v) { return std::exp(v); });
    case UnaryOp::Log: return unary_loop(size, x, out, [](float v) { return std::log(v); });
    case UnaryOp::Abs: return unary_loop(size, x, out, [](float v) { return std::fabs(v); });
    case UnaryOp::Reciprocal: return unary_loop(size, x, out, [](float v) { return 1.f / v; });
  }
}

void reduce(ReduceOp op, int64_t outer, int64_t mid, int64_t inner, const float* x, float* out) {
  const bool extremum = op == ReduceOp::Max || op == ReduceOp::Min;
  const bool is_max = op == ReduceOp::Max;
  // Sums accumulate in double, like tfjs's reference kernels (JS numbers).
  auto combine = [&](double acc, float v) {
    if (!extremum) return acc + v;
    if (v != v || acc != acc) return static_cast<double>(NAN);
    return is_max ? (v > acc ? v : acc) : (v < acc ? v : acc);
  };
  auto finish = [&](double acc) { return static_cast<float>(op == ReduceOp::Mean ? acc / mid : acc); };
  if (mid == 0) {
    for (int64_t i = 0; i < outer * inner; ++i) out[i] = extremum ? (is_max ? -INFINITY : INFINITY) : NAN;
    if (op == ReduceOp::Sum) std::fill(out, out + outer * inner, 0.f);
    return;
  }
  if (inner == 1) {
    // Row reductions: one row per output.
    parallel_chunks(outer, mid, [&](int64_t begin, int64_t end, int) {
      for (int64_t o = begin; o < end; ++o) {
        const float* row = x + o * mid;
        double acc = row[0];
        for (int64_t m = 1; m < mid; ++m) acc = combine(acc, row[m]);
        out[o] = finish(acc);
      }
    });
    return;
  }
  // Column reductions: split the reduced axis across threads, each with its own partial results, combined in
  // thread order.
  const int team = team_size(outer * mid * inner);
  std::vector<double> partial(static_cast<size_t>(team) * outer * inner);
  std::vector<char> used(team, 0);
  parallel_chunks(mid, outer * inner, [&](int64_t begin, int64_t end, int t) {
    used[t] = 1;
    double* acc = partial.data() + static_cast<size_t>(t) * outer * inner;
    for (int64_t o = 0; o < outer; ++o) {
      double* acc_o = acc + o * inner;
      const float* base = x + (o * mid + begin) * inner;
      for (int64_t i = 0; i < inner; ++i) acc_o[i] = base[i];
      for (int64_t m = begin + 1; m < end; ++m) {
        const float* row = x + (o * mid + m) * inner;
        if (extremum) {
          for (int64_t i = 0; i < inner; ++i) acc_o[i] = combine(acc_o[i], row[i]);
        } else {
          for (int64_t i = 0; i < inner; ++i) acc_o[i] += row[i];
        }
      }
    }
  });
  for (int64_t j = 0; j < outer * inner; ++j) {
    bool first = true;
    double acc = 0;
    for (int t = 0; t < team; ++t) {
      if (!used[t]) continue;
      const double v = partial[static_cast<size_t>(t) * outer * inner + j];
      if (first) {
        acc = v;
        first = false;
      } else if (extremum) {
        acc = (v != v || acc != acc) ? NAN : (is_max ? std::max(acc, v) : std::min(acc, v));
      } else {
        acc += v;
      }
    }
    out[j] = finish(acc);
  }
}

namespace {

// Channel-periodic view of an NHWC array: flat element i belongs to channel i % C. With few channels (C = 4 in a
// quarter-width ResNet-32) a row of C floats is too short to vectorise, so loops run over "periods" of
// P = lcm(C, 16) elements, with per-channel constants repeated across the period.
struct Periods {
  int64_t rows;    // number of periods
  int64_t period;  // P
  int64_t channels;
};

Periods periods_of(int64_t rows, int64_t channels) {
  int64_t p = channels;
  while (p % 16 != 0) p += channels;  // lcm(C, 16)
  if (p > 1024 || (rows * channels) % p != 0) p = channels;
  return {rows * channels / p, p, channels};
}

std::vector<float> repeat_per_period(const Periods& v, const std::vector<float>& per_channel) {
  std::vector<float> out(v.period);
  for (int64_t k = 0; k < v.period; ++k) out[k] = per_channel[k % v.channels];
  return out;
}

// Sums over the periods of `terms` per-element terms: row_fn(row, acc) adds row's terms into acc[t * P + k].
// Rows are split across threads, each with its own partials, combined in thread order (deterministic). Returns
// the sums folded to channels: result[t * C + c].
template <class RowFn>
std::vector<double> channel_sums(const Periods& v, int terms, RowFn row_fn) {
  const int64_t p = v.period;
  const int team = team_size(v.rows * p);
  const size_t width = static_cast<size_t>(terms) * p;
  std::vector<double> partial(team * width, 0.0);
  parallel_chunks(v.rows, p, [&](int64_t begin, int64_t end, int t) {
    double* acc = partial.data() + t * width;
    // Accumulate blocks of rows in float (vectorised), then fold into double to bound rounding error.
    constexpr int64_t kBlock = 64;
    std::vector<float> block(width);
    for (int64_t r0 = begin; r0 < end; r0 += kBlock) {
      std::fill(block.begin(), block.end(), 0.f);
      const int64_t r1 = std::min(end, r0 + kBlock);
      for (int64_t r = r0; r < r1; ++r) row_fn(r, block.data());
      for (size_t j = 0; j < width; ++j) acc[j] += block[j];
    }
  });
  std::vector<double> result(static_cast<size_t>(terms) * v.channels, 0.0);
  for (int t = 0; t < team; ++t)
    for (int term = 0; term < terms; ++term)
      for (int64_t k = 0; k < p; ++k) result[term * v.channels + k % v.channels] += partial[t * width + term * p + k];
  return result;
}

// y = x * mul + add per channel.
void channel_affine(const Periods& v, const float* x, const std::vector<float>& mul, const std::vector<float>& add, float* y) {
  const std::vector<float> m = repeat_per_period(v, mul), a = repeat_per_period(v, add);
  const int64_t p = v.period;
  parallel_chunks(v.rows, p, [&](int64_t begin, int64_t end, int) {
    const float* __restrict mp = m.data();
    const float* __restrict ap = a.data();
    for (int64_t r = begin; r < end; ++r) {
      const float* __restrict xr = x + r * p;
      float* __restrict yr = y + r * p;
      for (int64_t k = 0; k < p; ++k) yr[k] = xr[k] * mp[k] + ap[k];
    }
  });
}

}  // namespace

void batch_norm_train(int64_t rows, int64_t channels, const float* x, const float* gamma, const float* beta, float eps,
                      float* y, float* mean, float* variance) {
  const int64_t c = channels;
  const Periods v = periods_of(rows, c);
  const int64_t p = v.period;
  // Shifting by the first pixel before summing squares keeps E[x^2] - E[x]^2 well conditioned.
  const std::vector<float> shift = repeat_per_period(v, std::vector<float>(x, x + c));
  const std::vector<double> sums = channel_sums(v, 2, [&](int64_t r, float* acc) {
    const float* __restrict xr = x + r * p;
    const float* __restrict sh = shift.data();
    float* __restrict s1 = acc;
    float* __restrict s2 = acc + p;
    for (int64_t k = 0; k < p; ++k) {
      const float d = xr[k] - sh[k];
      s1[k] += d;
      s2[k] += d * d;
    }
  });
  std::vector<float> scale(c), bias(c);
  for (int64_t j = 0; j < c; ++j) {
    const double m = sums[j] / rows;
    const double var = std::max(0.0, sums[c + j] / rows - m * m);
    const double mu = m + x[j];
    mean[j] = static_cast<float>(mu);
    variance[j] = static_cast<float>(var);
    const double invstd = 1.0 / std::sqrt(static_cast<double>(variance[j]) + eps);
    scale[j] = static_cast<float>(gamma[j] * invstd);
    bias[j] = static_cast<float>(beta[j] - mu * gamma[j] * invstd);
  }
  channel_affine(v, x, scale, bias, y);
}

void batch_norm_train_grad(int64_t rows, int64_t channels, const float* dy, const float* x, const float* mean,
                           const float* variance, const float* gamma, float eps, float* dx, float* dgamma,
                           float* dbeta) {
  const int64_t c = channels;
  const Periods v = periods_of(rows, c);
  const int64_t p = v.period;
  const std::vector<float> mean_p = repeat_per_period(v, std::vector<float>(mean, mean + c));
  const std::vector<double> sums = channel_sums(v, 2, [&](int64_t r, float* acc) {
    const float* __restrict dyr = dy + r * p;
    const float* __restrict xr = x + r * p;
    const float* __restrict mp = mean_p.data();
    float* __restrict s1 = acc;
    float* __restrict s2 = acc + p;
    for (int64_t k = 0; k < p; ++k) {
      s1[k] += dyr[k];
      s2[k] += dyr[k] * (xr[k] - mp[k]);
    }
  });
  // dx = a * dy + k * x + b per channel, with a = gamma * invstd, xhat = (x - mean) * invstd:
  //   dx = a * (dy - dbeta / M - xhat * dgamma / M).
  std::vector<float> a(c), k(c), b(c);
  for (int64_t j = 0; j < c; ++j) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(variance[j]) + eps);
    const double db = sums[j], dg = sums[c + j] * invstd;
    dbeta[j] = static_cast<float>(db);
    dgamma[j] = static_cast<float>(dg);
    const double aj = gamma[j] * invstd;
    const double kj = -aj * invstd * dg / rows;
    a[j] = static_cast<float>(aj);
    k[j] = static_cast<float>(kj);
    b[j] = static_cast<float>(-aj * db / rows - kj * mean[j]);
  }
  const std::vector<float> ap = repeat_per_period(v, a), kp = repeat_per_period(v, k), bp = repeat_per_period(v, b);
  parallel_chunks(v.rows, p, [&](int64_t begin, int64_t end, int) {
    const float* __restrict av = ap.data();
    const float* __restrict kv = kp.data();
    const float* __restrict bv = bp.data();
    for (int64_t r = begin; r < end; ++r) {
      const float* __restrict dyr = dy + r * p;
      const float* __restrict xr = x + r * p;
      float* __restrict dxr = dx + r * p;
      for (int64_t j = 0; j < p; ++j) dxr[j] = av[j] * dyr[j] + kv[j] * xr[j] + bv[j];
    }
  });
}

void batch_norm_infer(int64_t rows, int64_t channels, const float* x, const float* mean, int64_t mean_len,
                      const float* variance, int64_t variance_len, const float* scale, int64_t scale_len,
                      const float* offset, int64_t offset_len, float eps, float* y) {
  const int64_t c = channels;
  auto at = [c](const float* p, int64_t len, int64_t j, float fallback) {
    return p ? p[len == c ? j : 0] : fallback;
  };
  std::vector<float> mul(c), add(c);
  for (int64_t j = 0; j < c; ++j) {
    const double s = at(scale, scale_len, j, 1.f) / std::sqrt(static_cast<double>(at(variance, variance_len, j, 0.f)) + eps);
    mul[j] = static_cast<float>(s);
    add[j] = static_cast<float>(at(offset, offset_len, j, 0.f) - at(mean, mean_len, j, 0.f) * s);
  }
  channel_affine(periods_of(rows, c), x, mul, add, y);
}

}  // namespace KDCL_ISA_NS
}  // namespace kdcl
