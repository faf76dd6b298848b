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
  // libtorch's own serialisation of the optimizer's per-parameter state, with the optimizer
  // type and parameter shapes so a mismatched load is refused instead of misapplied; sealed
  // (sealed_bytes.h) because libtorch cannot be trusted to survive damaged archives.
  std::string optimizerState();
  // Needs an optimizer of the same type over the same parameters; replaces its state whole, so
  // bad bytes ([CORRUPT_FILE]) or a mismatch leave it as it was. Options (the learning rate)
  // stay as configured.
  void loadOptimizerState(const std::string& bytes);
  // The dropout generator's state, sealed like the optimizer's.
  std::string rngState();
  void setRngState(const std::string& bytes);
  void dispose();

 private:
  void checkAlive() const;
  void checkOptimizer(const char* action) const;
  void freezeBatchnormStatistics();

  std::mutex mutex_;
  std::unique_ptr<SpecNet> net_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  OptimizerConfig optimizerConfig_;
};

}  // namespace loupe
