// No C++ exception may cross into JavaScript (an uncaught one aborts the server). Every entry
// point funnels failures through describe(), which prefixes a stable code that
// src/engine/model.ts maps onto LoupeError codes.
#pragma once

#include <c10/util/Exception.h>

#include <cctype>
#include <exception>
#include <new>
#include <string>

namespace loupe {

inline bool contains(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

inline bool isCoded(const std::string& m) {
  if (m.size() < 3 || m[0] != '[') return false;
  size_t i = 1;
  while (i < m.size() && (std::isupper(static_cast<unsigned char>(m[i])) || m[i] == '_')) i++;
  return i > 1 && i + 1 < m.size() && m[i] == ']' && m[i + 1] == ' ';
}

inline std::string classify(std::string message) {
  if (isCoded(message)) return message;  // already coded by our own code
  // "[enforce fail at alloc_cpu.cpp:75] err == 0. " says where, not what: drop it.
  if (message.rfind("[enforce fail at", 0) == 0) {
    auto dot = message.find(". ");
    if (dot != std::string::npos) message = message.substr(dot + 2);
  }
  if (contains(message, "not enough memory") || contains(message, "can't allocate") ||
      contains(message, "Cannot allocate") || contains(message, "out of memory")) {
    return "[OUT_OF_MEMORY] " + message;
  }
  if (contains(message, "shape") || contains(message, "size") || contains(message, "dimension")) {
    return "[SHAPE_MISMATCH] " + message;
  }
  return "[NATIVE_ERROR] " + message;
}

// Call inside a catch block.
inline std::string describeCurrentException() {
  try {
    throw;
  } catch (const c10::Error& e) {
    std::string m = e.what_without_backtrace();
    // libtorch appends "Exception raised from ..." lines; users need only the first.
    auto cut = m.find("\nException raised from");
    return classify(cut == std::string::npos ? m : m.substr(0, cut));
  } catch (const std::bad_alloc&) {
    return "[OUT_OF_MEMORY] the engine could not allocate memory for this operation";
  } catch (const std::exception& e) {
    return classify(e.what());
  } catch (...) {
    return "[NATIVE_ERROR] unknown native failure";
  }
}

}  // namespace loupe
