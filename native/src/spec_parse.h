// Turns the resolved spec (a JavaScript object) into plain LayerDefs on the main thread, so
// the worker that builds the network never touches JavaScript values.
#pragma once

#include <napi.h>

#include <vector>

#include "layer_def.h"

namespace loupe {

std::vector<LayerDef> parseLayers(const Napi::Array& layers, const std::string& path);

}  // namespace loupe
