// A layer of the resolved spec as plain data: filled from JavaScript on the main thread and
// consumed on a worker thread. Kept free of libtorch headers so the N-API side compiles fast.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loupe {

enum class Kind {
  Conv2d,
  BatchNorm,
  Relu,
  Relu6,
  Gelu,
  Silu,
  MaxPool,
  AvgPool,
  GlobalAvgPool,
  Dropout,
  Flatten,
  Linear,
  Pad,
  Residual,
  Sequential,
};

// Plain data, filled from JavaScript on the main thread and consumed on a worker thread.
struct LayerDef {
  Kind kind = Kind::Relu;
  std::string name;
  std::string tap;
  int64_t in = 0, out = 0, groups = 1, features = 0;
  int64_t kernel[2] = {1, 1}, stride[2] = {1, 1}, dilation[2] = {1, 1}, poolPad[2] = {0, 0};
  int64_t pad4[4] = {0, 0, 0, 0};  // top, bottom, left, right
  bool bias = true;
  bool vectorInput = false;  // batchnorm over [N, F] rather than [N, C, H, W]
  double eps = 1e-5, momentum = 0.1, p = 0.0, value = 0.0;
  std::optional<Kind> activation;  // residual: applied after the sum
  std::vector<LayerDef> body;      // residual body, or sequential layers
  std::vector<LayerDef> shortcut;  // residual shortcut; empty means identity
};

}  // namespace loupe
