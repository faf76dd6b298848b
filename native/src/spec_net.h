// A network built from a resolved Loupe spec. The spec was validated and every shape inferred
// in TypeScript (src/engine/spec/resolve.ts); this side only trusts it as far as libtorch's
// own shape checks go, which surface as exceptions, never as crashes.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "layer_def.h"

namespace loupe {

// What a forward pass should return: the final output, or a tap's activations (which lets the
// pass stop right after the tap instead of running the rest of the network).
struct ForwardTarget {
  std::string tap;  // empty: the network's output
  torch::Tensor captured;
};

class SequenceImpl;

// One layer. Layers with parameters own a torch::nn module registered under the layer's name,
// so parameter names come out as "block1.conv1.weight", exactly as TypeScript predicts them.
struct Layer {
  LayerDef def;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn2d{nullptr};
  torch::nn::BatchNorm1d bn1d{nullptr};
  torch::nn::Linear linear{nullptr};
  std::shared_ptr<SequenceImpl> body;
  std::shared_ptr<SequenceImpl> shortcut;
};

class SequenceImpl : public torch::nn::Module {
 public:
  SequenceImpl(const std::vector<LayerDef>& defs, torch::Generator* generator);
  // Returns true when the target tap was captured and the caller should stop.
  bool run(torch::Tensor& x, ForwardTarget& target);

 private:
  std::vector<Layer> layers_;
  torch::Generator* generator_;
};

class SpecNet {
 public:
  SpecNet(const std::vector<LayerDef>& layers, uint64_t seed);
  torch::Tensor forward(const torch::Tensor& x, const std::string& tap = "");
  std::shared_ptr<SequenceImpl> root() const { return root_; }
  // Parameters and running statistics, in registration order (num_batches_tracked excluded).
  std::vector<std::pair<std::string, torch::Tensor>> tensors() const;
  // The dropout generator's state as raw bytes (a platform-specific struct), so a resumed run
  // draws the same masks as an uninterrupted one.
  std::string generatorState();
  void setGeneratorState(const std::string& bytes);

 private:
  torch::Generator generator_;
  std::shared_ptr<SequenceImpl> root_;
};

}  // namespace loupe
