// A model's whole native state: the network, its optimizer and what is frozen. Pure libtorch,
// no N-API, so every method can run on a worker thread; one mutex serialises them per model.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "spec_net.h"

namespace loupe {

struct OptimizerConfig {
  std::string type = "adam";
  double lr = 1e-3, momentum = 0.0, weightDecay = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool nesterov = false;
};

struct StepConfig {
  double labelSmoothing = 0.0;
  double clipGradNorm = 0.0;  // 0: no clipping
};

struct NamedData {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
  bool trainable = false;
};

class EngineModel {
 public:
  EngineModel(const std::vector<LayerDef>& layers, uint64_t seed);

  void configureOptimizer(const OptimizerConfig& config);
  void setLearningRate(double lr);
  void setTrainable(const std::vector<std::string>& prefixes, bool trainable);
  // Returns the mean loss of the batch; throws [NAN_LOSS] (weights untouched) if it is not finite.
  double trainBatch(const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor& weights,
                    const StepConfig& step);
  // output: "logits", "probs" or "tap:<name>"; pool averages a tap's spatial dimensions.
  torch::Tensor forward(const torch::Tensor& x, const std::string& output, bool pool);
  std::vector<NamedData> tensors();
  void load(const std::vector<NamedData>& tensors);
  void dispose();

 private:
  void checkAlive() const;
  void freezeBatchnormStatistics();

  std::mutex mutex_;
  std::unique_ptr<SpecNet> net_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  OptimizerConfig optimizerConfig_;
};

}  // namespace loupe
