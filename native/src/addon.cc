// N-API surface of the engine (typed in native/index.d.ts). Arguments were validated in
// TypeScript; here they are copied into plain C++ data on the main thread, the heavy work runs
// in AsyncWorkers, and every failure becomes a JavaScript Error with a coded message.
#include <napi.h>
#include <torch/torch.h>

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <functional>
#include <memory>

#include "engine_model.h"
#include "serial_executor.h"
#include "errors.h"
#include "spec_parse.h"

namespace loupe {

namespace {

std::vector<int64_t> readShape(const Napi::Value& v) {
  if (!v.IsArray()) throw std::invalid_argument("[INVALID_ARGUMENT] shape must be an array");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value d = a.Get(i);
    if (!d.IsNumber() || d.As<Napi::Number>().Int64Value() < 1) {
      throw std::invalid_argument("[INVALID_ARGUMENT] shape must hold positive integers");
    }
    shape.push_back(d.As<Napi::Number>().Int64Value());
  }
  return shape;
}

// Copies on the main thread: the JavaScript buffer may be reused or detached while we work.
torch::Tensor copyFloat32(const Napi::Value& v, const std::vector<int64_t>& shape, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw std::invalid_argument(std::string("[DTYPE_MISMATCH] ") + what + " must be a Float32Array");
  }
  auto arr = v.As<Napi::Float32Array>();
  auto t = torch::empty(shape, torch::kFloat32);
  if (static_cast<int64_t>(arr.ElementLength()) != t.numel()) {
    throw std::invalid_argument(std::string("[SHAPE_MISMATCH] ") + what + " holds " + std::to_string(arr.ElementLength()) +
                                " values, its shape needs " + std::to_string(t.numel()));
  }
  std::memcpy(t.data_ptr<float>(), arr.Data(), arr.ElementLength() * sizeof(float));
  return t;
}

Napi::Float32Array toFloat32Array(Napi::Env env, const torch::Tensor& t) {
  auto c = t.to(torch::kFloat32).contiguous();
  auto out = Napi::Float32Array::New(env, c.numel());
  std::memcpy(out.Data(), c.data_ptr<float>(), c.numel() * sizeof(float));
  return out;
}

// Copies on the main thread, like copyFloat32.
std::string copyBytes(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw std::invalid_argument(std::string("[DTYPE_MISMATCH] ") + what + " must be a Uint8Array");
  }
  auto a = v.As<Napi::Uint8Array>();
  return std::string(reinterpret_cast<const char*>(a.Data()), a.ElementLength());
}

Napi::Buffer<char> toBuffer(Napi::Env env, const std::string& bytes) {
  return Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size());
}

Napi::Array toShape(Napi::Env env, const torch::Tensor& t) {
  auto a = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, t.size(i)));
  return a;
}

// The engine's thread count. OpenMP keeps it per OS thread, so each pool thread adopts it
// before its first call and after every change; at::set_num_threads also throws away oneDNN's
// compiled kernels, so calling it on every step (as at::init_num_threads does) halves training speed.
std::atomic<int> g_threads{0};
std::atomic<uint64_t> g_threadsGeneration{0};
thread_local uint64_t t_threadsGeneration = 0;

void adoptThreadCount() {
  uint64_t generation = g_threadsGeneration.load();
  if (generation == t_threadsGeneration) return;
  if (g_threads.load() > 0) at::set_num_threads(g_threads.load());
  t_threadsGeneration = generation;
}

// The engine's home thread, shared by every model (see serial_executor.h). Never destroyed:
// joining it during static destruction would race libtorch's own teardown at exit.
SerialExecutor& engineThread() {
  static SerialExecutor* thread = new SerialExecutor(adoptThreadCount);
  return *thread;
}

void throwJs(Napi::Env env) { Napi::Error::New(env, describeCurrentException()).ThrowAsJavaScriptException(); }

// Every entry point runs its body through this: a C++ exception becomes a JavaScript one.
template <class Body>
Napi::Value guarded(const Napi::CallbackInfo& info, Body&& body) {
  Napi::Env env = info.Env();
  try {
    return body(env);
  } catch (...) {
    throwJs(env);
    return env.Undefined();
  }
}

// Runs `work` on the engine thread (a libuv pool thread waits for it) and settles a promise with
// `done(env)`'s value on the main thread.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  PromiseWorker(Napi::Env env, Work work, Done done)
      : Napi::AsyncWorker(env, "loupe:engine"), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), done_(std::move(done)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      engineThread().run(work_);
    } catch (...) {
      SetError(describeCurrentException());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(done_(env));
    } catch (...) {
      deferred_.Reject(Napi::Error::New(env, describeCurrentException()).Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
};

}  // namespace

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static void Init(Napi::Env env) {
    Napi::Function fn = DefineClass(env, "NativeModel",
                                    {
                                        InstanceMethod("trainBatch", &ModelWrap::TrainBatch),
                                        InstanceMethod("forward", &ModelWrap::Forward),
                                        InstanceMethod("configureOptimizer", &ModelWrap::ConfigureOptimizer),
                                        InstanceMethod("setLearningRate", &ModelWrap::SetLearningRate),
                                        InstanceMethod("setTrainable", &ModelWrap::SetTrainable),
                                        InstanceMethod("tensors", &ModelWrap::Tensors),
                                        InstanceMethod("loadTensors", &ModelWrap::LoadTensors),
                                        InstanceMethod("optimizerState", &ModelWrap::OptimizerState),
                                        InstanceMethod("loadOptimizerState", &ModelWrap::LoadOptimizerState),
                                        InstanceMethod("rngState", &ModelWrap::RngState),
                                        InstanceMethod("setRngState", &ModelWrap::SetRngState),
                                        InstanceMethod("dispose", &ModelWrap::Dispose),
                                    });
    // Per-environment, so the addon also loads in worker threads.
    env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(fn)));
  }

  static Napi::Object Create(Napi::Env env, std::shared_ptr<EngineModel> model) {
    Napi::Object obj = env.GetInstanceData<Napi::FunctionReference>()->New({});
    Unwrap(obj)->model_ = std::move(model);
    return obj;
  }

  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {}

 private:
  std::shared_ptr<EngineModel> model_;

  std::shared_ptr<EngineModel> model() const {
    if (!model_) throw std::runtime_error("[DISPOSED] this native model was never initialised");
    return model_;
  }

  Napi::Value TrainBatch(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value {
      auto shape = readShape(info[1]);
      auto x = copyFloat32(info[0], shape, "input");
      if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
        throw std::invalid_argument("[DTYPE_MISMATCH] labels must be an Int32Array");
      }
      auto labelsJs = info[2].As<Napi::Int32Array>();
      if (static_cast<int64_t>(labelsJs.ElementLength()) != shape[0]) {
        throw std::invalid_argument("[SHAPE_MISMATCH] one label per sample is needed");
      }
      auto labels = torch::from_blob(labelsJs.Data(), {shape[0]}, torch::kInt32).to(torch::kInt64);
      torch::Tensor weights;
      if (!info[3].IsNull() && !info[3].IsUndefined()) weights = copyFloat32(info[3], {shape[0]}, "sample weights");
      StepConfig step;
      if (info[4].IsObject()) {
        auto o = info[4].As<Napi::Object>();
        step.labelSmoothing = o.Get("labelSmoothing").ToNumber().DoubleValue();
        step.clipGradNorm = o.Get("clipGradNorm").ToNumber().DoubleValue();
      }
      auto m = model();
      auto loss = std::make_shared<double>(0.0);
      auto* worker = new PromiseWorker(
          env, [m, x, labels, weights, step, loss] { *loss = m->trainBatch(x, labels, weights, step); },
          [loss](Napi::Env e) { return Napi::Number::New(e, *loss); });
      worker->Queue();
      return worker->Promise();
    });
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value {
      auto shape = readShape(info[1]);
      auto x = copyFloat32(info[0], shape, "input");
      std::string output = info[2].ToString().Utf8Value();
      bool pool = info[3].ToBoolean();
      auto m = model();
      auto result = std::make_shared<torch::Tensor>();
      auto* worker = new PromiseWorker(
          env, [m, x, output, pool, result] { *result = m->forward(x, output, pool); },
          [result](Napi::Env e) {
            auto o = Napi::Object::New(e);
            o.Set("data", toFloat32Array(e, *result));
            o.Set("shape", toShape(e, *result));
            return o;
          });
      worker->Queue();
      return worker->Promise();
    });
  }

  Napi::Value ConfigureOptimizer(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value {
      auto o = info[0].As<Napi::Object>();
      OptimizerConfig c;
      c.type = o.Get("type").ToString().Utf8Value();
      c.lr = o.Get("lr").ToNumber().DoubleValue();
      c.momentum = o.Get("momentum").ToNumber().DoubleValue();
      c.nesterov = o.Get("nesterov").ToBoolean();
      c.weightDecay = o.Get("weightDecay").ToNumber().DoubleValue();
      c.beta1 = o.Get("beta1").ToNumber().DoubleValue();
      c.beta2 = o.Get("beta2").ToNumber().DoubleValue();
      c.eps = o.Get("eps").ToNumber().DoubleValue();
      model()->configureOptimizer(c);
      return env.Undefined();
    });
  }

  Napi::Value SetLearningRate(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value {
      model()->setLearningRate(info[0].ToNumber().DoubleValue());
      return env.Undefined();
    });
  }

  Napi::Value SetTrainable(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value {
      auto a = info[0].As<Napi::Array>();
      std::vector<std::string> prefixes;
      for (uint32_t i = 0; i < a.Length(); i++) prefixes.push_back(a.Get(i).ToString().Utf8Value());
      model()->setTrainable(prefixes, info[1].ToBoolean());
      return env.Undefined();
    });
  }

  Napi::Value Tensors(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value {
      auto list = model()->tensors();
      auto out = Napi::Array::New(env, list.size());
      for (uint32_t i = 0; i < list.size(); i++) {
        auto& d = list[i];
        auto o = Napi::Object::New(env);
        o.Set("name", d.name);
        auto shape = Napi::Array::New(env, d.shape.size());
        for (uint32_t j = 0; j < d.shape.size(); j++) shape.Set(j, Napi::Number::New(env, d.shape[j]));
        o.Set("shape", shape);
        auto data = Napi::Float32Array::New(env, d.data.size());
        std::memcpy(data.Data(), d.data.data(), d.data.size() * sizeof(float));
        o.Set("data", data);
        o.Set("trainable", d.trainable);
        out.Set(i, o);
      }
      return out;
    });
  }

  Napi::Value LoadTensors(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value {
      auto a = info[0].As<Napi::Array>();
      std::vector<NamedData> list;
      for (uint32_t i = 0; i < a.Length(); i++) {
        auto o = a.Get(i).As<Napi::Object>();
        NamedData d;
        d.name = o.Get("name").ToString().Utf8Value();
        d.shape = readShape(o.Get("shape"));
        auto t = copyFloat32(o.Get("data"), d.shape, d.name.c_str());
        d.data.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
        list.push_back(std::move(d));
      }
      model()->load(list);
      return env.Undefined();
    });
  }

  Napi::Value OptimizerState(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value { return toBuffer(env, model()->optimizerState()); });
  }

  Napi::Value LoadOptimizerState(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value {
      model()->loadOptimizerState(copyBytes(info[0], "optimizer state"));
      return env.Undefined();
    });
  }

  Napi::Value RngState(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value { return toBuffer(env, model()->rngState()); });
  }

  Napi::Value SetRngState(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value {
      model()->setRngState(copyBytes(info[0], "random generator state"));
      return env.Undefined();
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    return guarded(info, [&](Napi::Env env) -> Napi::Value {
      model()->dispose();
      return env.Undefined();
    });
  }
};

namespace {

Napi::Value CreateModel(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    if (!info[0].IsString()) throw std::invalid_argument("[INVALID_SPEC] the resolved spec must be a JSON string");
    Napi::Object json = env.Global().Get("JSON").As<Napi::Object>();
    Napi::Value parsed = json.Get("parse").As<Napi::Function>().Call(json, {info[0]});
    if (env.IsExceptionPending()) return env.Undefined();
    if (!parsed.IsObject()) throw std::invalid_argument("[INVALID_SPEC] the spec must be an object");
    auto layers = parseLayers(parsed.As<Napi::Object>().Get("layers").As<Napi::Array>(), "layers");
    int64_t seed = info[1].ToNumber().Int64Value();
    auto built = std::make_shared<std::shared_ptr<EngineModel>>();
    auto* worker = new PromiseWorker(
        env, [layers, seed, built] { *built = std::make_shared<EngineModel>(layers, static_cast<uint64_t>(seed)); },
        [built](Napi::Env e) { return ModelWrap::Create(e, *built); });
    worker->Queue();
    return worker->Promise();
  });
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n = info[0].ToNumber().Int64Value();
  if (n < 1) {
    Napi::RangeError::New(env, "[INVALID_ARGUMENT] thread count must be at least 1").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  at::set_num_threads(static_cast<int>(n));
  g_threads.store(static_cast<int>(n));
  g_threadsGeneration.fetch_add(1);
  return env.Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

Napi::Value TorchVersion(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), TORCH_VERSION); }

}  // namespace

// glibc returns every freed block above its mmap threshold to the kernel and trims the heap
// eagerly, so each training step page-faults its activations afresh. Keeping blocks up to 32 MiB
// (glibc's ceiling) on the heap and trimming only past 128 MiB made training ~20% faster here;
// LOUPE_MALLOC_TUNING=0 keeps glibc's defaults (e.g. for a server that must give memory back).
void tuneAllocator() {
#if defined(__GLIBC__)
  const char* setting = std::getenv("LOUPE_MALLOC_TUNING");
  if (setting && std::string(setting) == "0") return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag tuned;
  std::call_once(tuned, tuneAllocator);
  ModelWrap::Init(env);
  exports.Set("createModel", Napi::Function::New(env, CreateModel));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("torchVersion", Napi::Function::New(env, TorchVersion));
  return exports;
}

}  // namespace loupe

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return loupe::Init(env, exports); }

NODE_API_MODULE(loupe_native, InitAddon)
