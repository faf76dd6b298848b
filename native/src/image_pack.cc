#include <array>
#include <cmath>

#include "image_target.h"

namespace loupe {
namespace {

// VIPS_RINT.
int rint(double v) { return static_cast<int>(v > 0 ? v + 0.5 : v - 0.5); }

// libvips' sRGB → B_W for 8-bit pixels (sRGB2scRGB, then scRGB2BW: luminance in linear light,
// back through its piecewise-linear inverse table), with libvips' mix of float and double. Only its
// values for neutral pixels (R = G = B) are used: those match sharp for all 256 levels, while a
// handful of the 16.7 million colours land one level apart, so colour images are left to sharp.
std::array<uint8_t, 256> neutralToGrey() {
  std::array<int, 257> y2v{};
  std::array<float, 256> v2y{};
  for (int i = 0; i < 256; i++) {
    const float f = static_cast<float>(i) / 255;
    const float v = static_cast<float>(f <= 0.0031308 ? 12.92 * f : 1.055 * std::pow(f, 1.0 / 2.4) - 0.055);
    y2v[i] = rint(255 * v);
    v2y[i] = static_cast<float>(f <= 0.04045 ? f / 12.92 : std::pow((f + 0.055) / 1.055, 2.4));
  }
  y2v[256] = y2v[255];
  std::array<uint8_t, 256> out{};
  for (int i = 0; i < 256; i++) {
    const float y = static_cast<float>(0.2126 * v2y[i] + 0.7152 * v2y[i] + 0.0722 * v2y[i]);
    float yf = y * 255.0f;
    yf = yf < 0 ? 0 : yf > 255 ? 255 : yf;
    const int yi = static_cast<int>(yf);
    out[i] = static_cast<uint8_t>(rint(y2v[yi] + (y2v[yi + 1] - y2v[yi]) * (yf - yi)));
  }
  return out;
}

const std::array<uint8_t, 256> kNeutralToGrey = neutralToGrey();

// libvips' flatten on 8-bit pixels, in integers: (v·a + bg·(255 − a)) / 255, truncated.
int flatten(int v, int alpha, int background) { return (v * alpha + background * (255 - alpha)) / 255; }

}  // namespace

Declined packTensor(const Pixels& p, const DecodeTarget& t, float* out) {
  if (p.width != t.width || p.height != t.height) return "size";
  const bool colour = p.bands >= 3;
  const bool alpha = p.bands == 2 || p.bands == 4;
  const size_t plane = static_cast<size_t>(t.width) * t.height;
  // The pixels as sharp hands them to packNchw: flattened, then in the model's colour space.
  std::vector<uint8_t> flat(plane * t.channels);
  const uint8_t* px = p.data.data();
  for (size_t i = 0; i < plane; i++, px += p.bands) {
    const int a = alpha ? px[p.bands - 1] : 255;
    if (!colour) {
      // sharp flattens grey + alpha onto the background's first component, not its luminance.
      const int v = alpha ? flatten(px[0], a, t.background[0]) : px[0];
      for (int c = 0; c < t.channels; c++) flat[i * t.channels + c] = static_cast<uint8_t>(v);
      continue;
    }
    int rgb[3];
    for (int c = 0; c < 3; c++) rgb[c] = alpha ? flatten(px[c], a, t.background[c]) : px[c];
    if (t.channels == 3) {
      for (int c = 0; c < 3; c++) flat[i * 3 + c] = static_cast<uint8_t>(rgb[c]);
    } else {
      if (rgb[0] != rgb[1] || rgb[1] != rgb[2]) return "colour-to-grey";
      flat[i] = kNeutralToGrey[rgb[0]];
    }
  }
  for (int c = 0; c < t.channels; c++) {
    // BGR reads the source channels backwards; mean and std follow the source channel.
    const int src = t.bgr ? 2 - c : c;
    const double mean = t.mean[src];
    const double std = t.std[src];
    float* dst = out + c * plane;
    const uint8_t* v = flat.data() + src;
    // The same double arithmetic as packNchw in preprocess.ts, rounded to float once.
    for (size_t i = 0; i < plane; i++, v += t.channels) dst[i] = static_cast<float>((*v / 255.0 - mean) / std);
  }
  return {};
}

}  // namespace loupe
