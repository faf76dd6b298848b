#include "spec_parse.h"

#include <stdexcept>
#include <unordered_map>

namespace loupe {

namespace {

const std::unordered_map<std::string, Kind>& kinds() {
  static const std::unordered_map<std::string, Kind> map = {
      {"conv2d", Kind::Conv2d},   {"batchnorm", Kind::BatchNorm},
      {"relu", Kind::Relu},       {"relu6", Kind::Relu6},
      {"gelu", Kind::Gelu},       {"silu", Kind::Silu},
      {"maxpool", Kind::MaxPool}, {"avgpool", Kind::AvgPool},
      {"global_avgpool", Kind::GlobalAvgPool}, {"dropout", Kind::Dropout},
      {"flatten", Kind::Flatten}, {"linear", Kind::Linear},
      {"pad", Kind::Pad},         {"residual", Kind::Residual},
      {"sequential", Kind::Sequential},
  };
  return map;
}

Kind kindOf(const std::string& type, const std::string& where) {
  auto it = kinds().find(type);
  if (it == kinds().end()) throw std::invalid_argument("[INVALID_SPEC] " + where + ": unknown layer type \"" + type + "\"");
  return it->second;
}

int64_t integer(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw std::invalid_argument("[INVALID_SPEC] " + where + "." + key + " must be a number");
  return v.As<Napi::Number>().Int64Value();
}

double number(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

template <size_t N>
void fill(const Napi::Object& o, const char* key, int64_t (&out)[N], const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray() || v.As<Napi::Array>().Length() != N) {
    throw std::invalid_argument("[INVALID_SPEC] " + where + "." + key + " must be an array of " + std::to_string(N));
  }
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < N; i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) throw std::invalid_argument("[INVALID_SPEC] " + where + "." + key + " must hold numbers");
    out[i] = e.As<Napi::Number>().Int64Value();
  }
}

LayerDef parseLayer(const Napi::Object& o, const std::string& where) {
  LayerDef d;
  d.kind = kindOf(o.Get("type").ToString().Utf8Value(), where);
  d.name = o.Get("name").ToString().Utf8Value();
  if (o.Get("tap").IsString()) d.tap = o.Get("tap").As<Napi::String>().Utf8Value();
  switch (d.kind) {
    case Kind::Conv2d:
      d.in = integer(o, "in", where);
      d.out = integer(o, "out", where);
      d.groups = integer(o, "groups", where);
      d.bias = o.Get("bias").ToBoolean();
      fill(o, "kernel", d.kernel, where);
      fill(o, "stride", d.stride, where);
      fill(o, "dilation", d.dilation, where);
      fill(o, "padding", d.pad4, where);
      break;
    case Kind::BatchNorm: {
      d.features = integer(o, "features", where);
      d.eps = number(o, "eps", 1e-5);
      d.momentum = number(o, "momentum", 0.1);
      Napi::Value shape = o.Get("outShape");
      d.vectorInput = shape.IsArray() && shape.As<Napi::Array>().Length() == 1;
      break;
    }
    case Kind::MaxPool:
    case Kind::AvgPool:
      fill(o, "kernel", d.kernel, where);
      fill(o, "stride", d.stride, where);
      fill(o, "padding", d.poolPad, where);
      break;
    case Kind::Dropout:
      d.p = number(o, "p", 0.0);
      break;
    case Kind::Linear:
      d.in = integer(o, "in", where);
      d.out = integer(o, "out", where);
      d.bias = o.Get("bias").ToBoolean();
      break;
    case Kind::Pad:
      fill(o, "padding", d.pad4, where);
      d.value = number(o, "value", 0.0);
      break;
    case Kind::Sequential:
      d.body = parseLayers(o.Get("layers").As<Napi::Array>(), where + "." + d.name);
      break;
    case Kind::Residual:
      d.body = parseLayers(o.Get("body").As<Napi::Array>(), where + "." + d.name + ".body");
      if (o.Get("shortcut").IsArray()) {
        d.shortcut = parseLayers(o.Get("shortcut").As<Napi::Array>(), where + "." + d.name + ".shortcut");
      }
      if (o.Get("activation").IsString()) d.activation = kindOf(o.Get("activation").ToString().Utf8Value(), where);
      break;
    default:
      break;
  }
  return d;
}

}  // namespace

std::vector<LayerDef> parseLayers(const Napi::Array& layers, const std::string& path) {
  if (!layers.IsArray()) throw std::invalid_argument("[INVALID_SPEC] " + path + " must be an array of layers");
  std::vector<LayerDef> out;
  for (uint32_t i = 0; i < layers.Length(); i++) {
    Napi::Value v = layers.Get(i);
    std::string where = path + "[" + std::to_string(i) + "]";
    if (!v.IsObject()) throw std::invalid_argument("[INVALID_SPEC] " + where + " must be an object");
    out.push_back(parseLayer(v.As<Napi::Object>(), where));
  }
  return out;
}

}  // namespace loupe
