#pragma once
// Facts about an input file gathered before anything runs: size, hash, readability.
#include <cstdint>
#include <string>

namespace modelvet {

struct FileInfo {
  std::string path;
  uint64_t size = 0;
  std::string sha256;     // hex; empty when the file could not be read
  std::string error;      // why the file cannot be verified ("" when it can)
  bool is_directory = false;  // a SavedModel directory
};

FileInfo inspect_file(const std::string& path);
std::string sha256_hex(const std::string& data);

}  // namespace modelvet
