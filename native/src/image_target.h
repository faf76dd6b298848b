// What the fast image decoder produces: a model's input tensor, and the pixel arithmetic that
// must match the sharp path of src/features/image/preprocess.ts value for value.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace loupe {

// Mirrors the Float64Array that src/serve/inference/fast-decoder.ts builds from an
// ImagePreprocessing (it validates every value first).
struct DecodeTarget {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 (gray) or 3
  bool bgr = false;
  double mean[3] = {0, 0, 0};
  double std[3] = {1, 1, 1};
  int background[3] = {255, 255, 255};
  double maxPixels = 0;
  std::chrono::steady_clock::time_point deadline;
};

// 8-bit interleaved pixels as a decoder produced them: 1 (grey), 2 (grey + alpha), 3 (RGB) or 4
// (RGBA) bands.
struct Pixels {
  int width = 0;
  int height = 0;
  int bands = 0;
  std::vector<uint8_t> data;
};

// A decoder's answer: empty when `pixels` holds the image, else why it declined. Declining is
// never an error to the client: the caller then decodes with sharp, which either succeeds (the
// image was merely outside what this decoder handles) or says precisely what is wrong.
using Declined = std::string;

// "timeout" is the one reason the caller must not retry with sharp: the time is already spent.
inline const char* const kTimedOut = "timeout";

// Writes `p` into out[0 .. channels*height*width) as (v / 255 - mean[c]) / std[c], channel-first,
// after compositing any alpha onto the background and converting grey to RGB, exactly as
// sharp's flatten + toColourspace + removeAlpha and preprocess.ts's packNchw do. Declines colour
// pixels for a grey model: libvips' sRGB-to-grey conversion is not reproduced here.
Declined packTensor(const Pixels& p, const DecodeTarget& t, float* out);

Declined decodeJpeg(const uint8_t* bytes, size_t length, const DecodeTarget& t, Pixels& out);
Declined decodePng(const uint8_t* bytes, size_t length, const DecodeTarget& t, Pixels& out);

}  // namespace loupe
