// loupe_image: decodes small JPEG and PNG uploads straight into a model's input tensor. It exists
// because sharp spends ~0.7 ms of fixed overhead per image (operation set-up, caches, thread
// hand-offs in libvips) where decoding a 28×28 file takes microseconds; see docs/benchmarks.md.
// It links only libjpeg and libpng, never libtorch, so the server can load it cheaply.
#include <napi.h>

#include <cmath>
#include <exception>
#include <new>

#include "image_target.h"

namespace {

using loupe::Declined;

// The layout of the target Float64Array; src/serve/inference/fast-decoder.ts writes it.
enum Field {
  kWidth,
  kHeight,
  kChannels,
  kBgr,
  kMean,
  kStd = kMean + 3,
  kBackground = kStd + 3,
  kMaxPixels = kBackground + 3,
  kTimeoutMs,
  kFields
};

bool isJpeg(const uint8_t* b, size_t n) { return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff; }
bool isPng(const uint8_t* b, size_t n) { return n >= 8 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G'; }

// Sync: decodeInto(bytes: Uint8Array, target: Float64Array, out: Float32Array, offset: number)
// → undefined when out[offset ..] holds the image, else a string saying why it declined.
// Throws a TypeError on malformed arguments (a programming error, validated in TypeScript).
Napi::Value DecodeInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray() ||
      !info[3].IsNumber())
    throw Napi::TypeError::New(env, "decodeInto(bytes, target, out, offset)");
  auto bytes = info[0].As<Napi::Uint8Array>();
  auto target = info[1].As<Napi::Float64Array>();
  auto out = info[2].As<Napi::Float32Array>();
  const double offset = info[3].As<Napi::Number>().DoubleValue();
  if (bytes.TypedArrayType() != napi_uint8_array || target.TypedArrayType() != napi_float64_array ||
      out.TypedArrayType() != napi_float32_array || target.ElementLength() != kFields)
    throw Napi::TypeError::New(env, "decodeInto: expected Uint8Array, Float64Array(15), Float32Array");

  loupe::DecodeTarget t;
  t.width = static_cast<int>(target[kWidth]);
  t.height = static_cast<int>(target[kHeight]);
  t.channels = static_cast<int>(target[kChannels]);
  t.bgr = target[kBgr] != 0;
  for (int c = 0; c < 3; c++) {
    t.mean[c] = target[kMean + c];
    t.std[c] = target[kStd + c];
    t.background[c] = static_cast<int>(target[kBackground + c]);
  }
  t.maxPixels = target[kMaxPixels];
  t.deadline = std::chrono::steady_clock::now() +
               std::chrono::microseconds(static_cast<int64_t>(target[kTimeoutMs] * 1000));
  const double size = static_cast<double>(t.channels) * t.width * t.height;
  if (t.width <= 0 || t.height <= 0 || (t.channels != 1 && t.channels != 3) || !(offset >= 0) ||
      std::floor(offset) != offset || offset + size > static_cast<double>(out.ElementLength()))
    throw Napi::RangeError::New(env, "decodeInto: the target does not fit the output tensor");

  try {
    loupe::Pixels pixels;
    const uint8_t* b = bytes.Data();
    const size_t n = bytes.ElementLength();
    Declined declined = isJpeg(b, n)  ? loupe::decodeJpeg(b, n, t, pixels)
                        : isPng(b, n) ? loupe::decodePng(b, n, t, pixels)
                                      : Declined("format");
    if (declined.empty()) declined = loupe::packTensor(pixels, t, out.Data() + static_cast<size_t>(offset));
    return declined.empty() ? env.Undefined() : Napi::String::New(env, declined);
  } catch (const std::bad_alloc&) {
    return Napi::String::New(env, "memory");
  } catch (const std::exception& e) {
    return Napi::String::New(env, std::string("native: ") + e.what());
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("decodeInto", Napi::Function::New(env, DecodeInto, "decodeInto"));
  exports.Set("fields", Napi::Number::New(env, kFields));
  return exports;
}

}  // namespace

NODE_API_MODULE(loupe_image, Init)
