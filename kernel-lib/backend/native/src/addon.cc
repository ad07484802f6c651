// N-API bindings for kdcl's native kernels. Every function takes tfjs's own Float32Arrays (inputs and a
// preallocated output) and works on them in place: no copies cross the JS/C++ boundary.
#include <node_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "elementwise.h"
#include "kernels.h"

namespace {

struct ArgError {
  std::string message;
};

class Args {
 public:
  Args(napi_env env, napi_callback_info info, size_t expected) : env_(env), values_(expected) {
    size_t argc = expected;
    napi_get_cb_info(env, info, &argc, values_.data(), nullptr, nullptr);
    if (argc < expected) throw ArgError{"expected " + std::to_string(expected) + " arguments, got " + std::to_string(argc)};
  }

  bool is_null(size_t i) const {
    napi_valuetype type;
    napi_typeof(env_, values_[i], &type);
    return type == napi_null || type == napi_undefined;
  }

  int64_t integer(size_t i) const {
    int64_t v;
    if (napi_get_value_int64(env_, values_[i], &v) != napi_ok) throw ArgError{"argument " + std::to_string(i) + " must be a number"};
    return v;
  }

  double number(size_t i) const {
    double v;
    if (napi_get_value_double(env_, values_[i], &v) != napi_ok) throw ArgError{"argument " + std::to_string(i) + " must be a number"};
    return v;
  }

  bool boolean(size_t i) const {
    bool v;
    if (napi_get_value_bool(env_, values_[i], &v) != napi_ok) throw ArgError{"argument " + std::to_string(i) + " must be a boolean"};
    return v;
  }

  float* f32(size_t i, size_t* length = nullptr) const { return typed<float>(i, napi_float32_array, "Float32Array", length); }
  float* f32_or_null(size_t i, size_t* length = nullptr) const {
    if (is_null(i)) {
      if (length) *length = 0;
      return nullptr;
    }
    return f32(i, length);
  }

  std::vector<int64_t> ints(size_t i) const {
    size_t n;
    const int32_t* p = typed<int32_t>(i, napi_int32_array, "Int32Array", &n);
    return std::vector<int64_t>(p, p + n);
  }

 private:
  template <class T>
  T* typed(size_t i, napi_typedarray_type want, const char* name, size_t* length) const {
    bool is_typed = false;
    napi_is_typedarray(env_, values_[i], &is_typed);
    if (!is_typed) throw ArgError{"argument " + std::to_string(i) + " must be a " + name};
    napi_typedarray_type type;
    size_t n;
    void* data;
    napi_get_typedarray_info(env_, values_[i], &type, &n, &data, nullptr, nullptr);
    if (type != want) throw ArgError{"argument " + std::to_string(i) + " must be a " + name};
    if (length) *length = n;
    return static_cast<T*>(data);
  }

  napi_env env_;
  std::vector<napi_value> values_;
};

napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value string(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  return v;
}

// Wraps a binding so argument errors and C++ exceptions become JS exceptions.
template <napi_value (*Body)(napi_env, napi_callback_info)>
napi_value guarded(napi_env env, napi_callback_info info) {
  try {
    return Body(env, info);
  } catch (const ArgError& e) {
    napi_throw_type_error(env, nullptr, e.message.c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

// init(threads) -> { onednn, isa, loops, threads }
napi_value Init(napi_env env, napi_callback_info info) {
  Args args(env, info, 1);
  const int threads = kdcl::set_threads(static_cast<int>(args.integer(0)));
  napi_value result, n;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "onednn", string(env, kdcl::onednn_version()));
  napi_set_named_property(env, result, "isa", string(env, kdcl::cpu_isa()));
  napi_set_named_property(env, result, "loops", string(env, kdcl::elementwise_level()));
  napi_create_int32(env, threads, &n);
  napi_set_named_property(env, result, "threads", n);
  napi_value bf16;
  napi_get_boolean(env, kdcl::bf16_supported(), &bf16);
  napi_set_named_property(env, result, "bf16", bf16);
  return result;
}

// setBf16(on: boolean) -> undefined; throws (naming the ISA) where the CPU has no bf16 kernels.
napi_value SetBf16(napi_env env, napi_callback_info info) {
  Args args(env, info, 1);
  kdcl::set_bf16(args.boolean(0));
  return undefined(env);
}

// conv2d(pass, a, b, out, geometry: Int32Array[17]) -> implementation name, or null if oneDNN has none.
napi_value Conv2d(napi_env env, napi_callback_info info) {
  Args args(env, info, 5);
  const auto pass = static_cast<kdcl::ConvPass>(args.integer(0));
  const std::vector<int64_t> p = args.ints(4);
  if (p.size() != 17) throw ArgError{"conv geometry must have 17 entries"};
  kdcl::ConvGeom g{};
  int* fields[] = {&g.n, &g.ih, &g.iw, &g.ic, &g.oh, &g.ow, &g.oc, &g.kh, &g.kw,
                   &g.sh, &g.sw, &g.pt, &g.pl, &g.pb, &g.pr, &g.dh, &g.dw};
  for (size_t i = 0; i < 17; ++i) *fields[i] = static_cast<int>(p[i]);
  const size_t x_size = size_t(g.n) * g.ih * g.iw * g.ic, y_size = size_t(g.n) * g.oh * g.ow * g.oc,
               w_size = size_t(g.kh) * g.kw * g.ic * g.oc;
  size_t sizes[3][3] = {{x_size, w_size, y_size}, {y_size, w_size, x_size}, {x_size, y_size, w_size}};
  const size_t* want = sizes[static_cast<int>(pass)];
  size_t na, nb, no;
  const float* a = args.f32(1, &na);
  const float* b = args.f32(2, &nb);
  float* out = args.f32(3, &no);
  if (na != want[0] || nb != want[1] || no != want[2]) throw ArgError{"conv2d: array sizes do not match the geometry"};
  std::string impl;
  if (!kdcl::conv2d(pass, g, a, b, out, &impl)) {
    napi_value null;
    napi_get_null(env, &null);
    return null;
  }
  return string(env, impl);
}

kdcl::PoolGeom pool_geometry(const Args& args, size_t i) {
  const std::vector<int64_t> p = args.ints(i);
  if (p.size() != 14) throw ArgError{"pool geometry must have 14 entries"};
  kdcl::PoolGeom g{};
  int* fields[] = {&g.n, &g.ih, &g.iw, &g.c, &g.oh, &g.ow, &g.kh, &g.kw, &g.sh, &g.sw, &g.pt, &g.pl, &g.pb, &g.pr};
  for (size_t k = 0; k < 14; ++k) *fields[k] = static_cast<int>(p[k]);
  return g;
}

// pool(kind, x, y, geometry: Int32Array[14]) -> true, or false if oneDNN has no implementation.
napi_value Pool(napi_env env, napi_callback_info info) {
  Args args(env, info, 4);
  const kdcl::PoolGeom g = pool_geometry(args, 3);
  size_t nx, ny;
  const float* x = args.f32(1, &nx);
  float* y = args.f32(2, &ny);
  if (nx != size_t(g.n) * g.ih * g.iw * g.c || ny != size_t(g.n) * g.oh * g.ow * g.c) throw ArgError{"pool: array sizes do not match the geometry"};
  napi_value result;
  napi_get_boolean(env, kdcl::pool_forward(static_cast<kdcl::PoolKind>(args.integer(0)), g, x, y), &result);
  return result;
}

// poolGrad(kind, x, dy, dx, geometry) -> true, or false if oneDNN has no implementation.
napi_value PoolGrad(napi_env env, napi_callback_info info) {
  Args args(env, info, 5);
  const kdcl::PoolGeom g = pool_geometry(args, 4);
  size_t nx, ndy, ndx;
  const float* x = args.f32(1, &nx);
  const float* dy = args.f32(2, &ndy);
  float* dx = args.f32(3, &ndx);
  const size_t in = size_t(g.n) * g.ih * g.iw * g.c, out = size_t(g.n) * g.oh * g.ow * g.c;
  if (nx != in || ndx != in || ndy != out) throw ArgError{"poolGrad: array sizes do not match the geometry"};
  napi_value result;
  napi_get_boolean(env, kdcl::pool_backward(static_cast<kdcl::PoolKind>(args.integer(0)), g, x, dy, dx), &result);
  return result;
}

// matmul(a, b, c, bias|null, [batch, m, n, k, transA, transB, aBatchStride, bBatchStride, relu])
napi_value Matmul(napi_env env, napi_callback_info info) {
  Args args(env, info, 5);
  const std::vector<int64_t> p = args.ints(4);
  if (p.size() != 9) throw ArgError{"matmul parameters must have 9 entries"};
  const int64_t batch = p[0], m = p[1], n = p[2], k = p[3];
  size_t na, nb, nc, nbias;
  const float* a = args.f32(0, &na);
  const float* b = args.f32(1, &nb);
  float* c = args.f32(2, &nc);
  const float* bias = args.f32_or_null(3, &nbias);
  if (nc != size_t(batch * m * n) || na < size_t((batch - 1) * p[6] + m * k) || nb < size_t((batch - 1) * p[7] + k * n) ||
      (bias && nbias != size_t(n))) {
    throw ArgError{"matmul: array sizes do not match the parameters"};
  }
  kdcl::matmul(batch, m, n, k, p[4] != 0, p[5] != 0, a, p[6], b, p[7], c, bias, p[8] != 0);
  return undefined(env);
}

// binary(op, a, b, out, [rank, shape..., aStrides..., bStrides...])
napi_value Binary(napi_env env, napi_callback_info info) {
  Args args(env, info, 5);
  const std::vector<int64_t> p = args.ints(4);
  const int rank = p.empty() ? -1 : static_cast<int>(p[0]);
  if (rank < 0 || rank > 8 || p.size() != size_t(1 + 3 * rank)) throw ArgError{"binary: bad shape parameters"};
  const int64_t* shape = p.data() + 1;
  const int64_t* as = shape + rank;
  const int64_t* bs = as + rank;
  size_t size = 1, reach_a = 1, reach_b = 1;
  for (int d = 0; d < rank; ++d) {
    size *= shape[d];
    reach_a += (shape[d] - 1) * as[d];
    reach_b += (shape[d] - 1) * bs[d];
  }
  size_t na, nb, no;
  const float* a = args.f32(1, &na);
  const float* b = args.f32(2, &nb);
  float* out = args.f32(3, &no);
  if (no != size || (size > 0 && (na < reach_a || nb < reach_b))) throw ArgError{"binary: array sizes do not match the shape"};
  if (size > 0) kdcl::binary(static_cast<kdcl::BinaryOp>(args.integer(0)), rank, shape, a, as, b, bs, out);
  return undefined(env);
}

// unary(op, x, out, alpha)
napi_value Unary(napi_env env, napi_callback_info info) {
  Args args(env, info, 4);
  size_t nx, no;
  const float* x = args.f32(1, &nx);
  float* out = args.f32(2, &no);
  if (nx != no) throw ArgError{"unary: input and output sizes differ"};
  kdcl::unary(static_cast<kdcl::UnaryOp>(args.integer(0)), static_cast<int64_t>(nx), x, out, static_cast<float>(args.number(3)));
  return undefined(env);
}

// reduce(op, x, out, outer, mid, inner)
napi_value Reduce(napi_env env, napi_callback_info info) {
  Args args(env, info, 6);
  const int64_t outer = args.integer(3), mid = args.integer(4), inner = args.integer(5);
  size_t nx, no;
  const float* x = args.f32(1, &nx);
  float* out = args.f32(2, &no);
  if (nx != size_t(outer * mid * inner) || no != size_t(outer * inner)) throw ArgError{"reduce: array sizes do not match"};
  kdcl::reduce(static_cast<kdcl::ReduceOp>(args.integer(0)), outer, mid, inner, x, out);
  return undefined(env);
}

// batchNormTrain(x, gamma, beta, eps, y, mean, variance)
napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  Args args(env, info, 7);
  size_t nx, ng, nb, ny, nm, nv;
  const float* x = args.f32(0, &nx);
  const float* gamma = args.f32(1, &ng);
  const float* beta = args.f32(2, &nb);
  float* y = args.f32(4, &ny);
  float* mean = args.f32(5, &nm);
  float* variance = args.f32(6, &nv);
  const size_t c = ng;
  if (c == 0 || nx % c != 0 || nb != c || ny != nx || nm != c || nv != c || nx == 0) {
    throw ArgError{"batchNormTrain: array sizes do not match"};
  }
  kdcl::batch_norm_train(nx / c, c, x, gamma, beta, static_cast<float>(args.number(3)), y, mean, variance);
  return undefined(env);
}

// batchNormTrainGrad(dy, x, mean, variance, gamma, eps, dx, dgamma, dbeta)
napi_value BatchNormTrainGrad(napi_env env, napi_callback_info info) {
  Args args(env, info, 9);
  size_t ndy, nx, nm, nv, ng, ndx, ndg, ndb;
  const float* dy = args.f32(0, &ndy);
  const float* x = args.f32(1, &nx);
  const float* mean = args.f32(2, &nm);
  const float* variance = args.f32(3, &nv);
  const float* gamma = args.f32(4, &ng);
  float* dx = args.f32(6, &ndx);
  float* dgamma = args.f32(7, &ndg);
  float* dbeta = args.f32(8, &ndb);
  const size_t c = ng;
  if (c == 0 || nx == 0 || nx % c != 0 || ndy != nx || ndx != nx || nm != c || nv != c || ndg != c || ndb != c) {
    throw ArgError{"batchNormTrainGrad: array sizes do not match"};
  }
  kdcl::batch_norm_train_grad(nx / c, c, dy, x, mean, variance, gamma, static_cast<float>(args.number(5)), dx, dgamma, dbeta);
  return undefined(env);
}

// batchNormInfer(x, channels, mean, variance, scale|null, offset|null, eps, y)
napi_value BatchNormInfer(napi_env env, napi_callback_info info) {
  Args args(env, info, 8);
  size_t nx, nm, nv, ns, no, ny;
  const float* x = args.f32(0, &nx);
  const int64_t c = args.integer(1);
  const float* mean = args.f32(2, &nm);
  const float* variance = args.f32(3, &nv);
  const float* scale = args.f32_or_null(4, &ns);
  const float* offset = args.f32_or_null(5, &no);
  float* y = args.f32(7, &ny);
  auto ok_len = [c](size_t n, bool optional) { return (optional && n == 0) || n == 1 || n == size_t(c); };
  if (c <= 0 || nx % c != 0 || ny != nx || !ok_len(nm, false) || !ok_len(nv, false) || !ok_len(ns, true) || !ok_len(no, true)) {
    throw ArgError{"batchNormInfer: array sizes do not match"};
  }
  kdcl::batch_norm_infer(nx / c, c, x, mean, nm, variance, nv, scale, ns, offset, no, static_cast<float>(args.number(6)), y);
  return undefined(env);
}

napi_value Register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", nullptr, guarded<Init>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setBf16", nullptr, guarded<SetBf16>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2d", nullptr, guarded<Conv2d>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pool", nullptr, guarded<Pool>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"poolGrad", nullptr, guarded<PoolGrad>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmul", nullptr, guarded<Matmul>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, guarded<Binary>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, guarded<Unary>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduce", nullptr, guarded<Reduce>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormTrain", nullptr, guarded<BatchNormTrain>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormTrainGrad", nullptr, guarded<BatchNormTrainGrad>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormInfer", nullptr, guarded<BatchNormInfer>, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Register)
