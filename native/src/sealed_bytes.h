// State handed to JavaScript for checkpoints travels sealed: a magic naming what it is, then a
// checksum of the payload. libtorch 1.13's archive reader checks no CRCs and segfaults compiling
// a damaged TorchScript record inside an optimizer archive, so damage must be caught before the
// bytes reach it. FNV-1a changes on any single changed byte; a checksum guards against damage,
// not against a crafted file.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace loupe {

constexpr size_t kMagicBytes = 8, kChecksumBytes = 8;

inline uint64_t fnv1a64(const char* data, size_t size) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < size; i++) h = (h ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
  return h;
}

// magic: exactly kMagicBytes characters.
inline std::string seal(const char* magic, const std::string& payload) {
  std::string out(magic, kMagicBytes);
  uint64_t h = fnv1a64(payload.data(), payload.size());
  for (size_t i = 0; i < kChecksumBytes; i++) out.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
  return out + payload;
}

inline std::string unseal(const char* magic, const std::string& bytes, const std::string& what) {
  const size_t header = kMagicBytes + kChecksumBytes;
  if (bytes.size() < header || std::memcmp(bytes.data(), magic, kMagicBytes) != 0) {
    throw std::runtime_error("[CORRUPT_FILE] the " + what + " was not written by this version of Loupe");
  }
  uint64_t stored = 0;
  for (size_t i = 0; i < kChecksumBytes; i++) {
    stored |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[kMagicBytes + i])) << (8 * i);
  }
  if (stored != fnv1a64(bytes.data() + header, bytes.size() - header)) {
    throw std::runtime_error("[CORRUPT_FILE] the " + what + " is damaged (its checksum does not match)");
  }
  return bytes.substr(header);
}

}  // namespace loupe
