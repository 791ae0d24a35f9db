#include "sandbox/staged_file.h"

#include <sys/random.h>

#include <fstream>
#include <stdexcept>

namespace modelvet::sandbox {
namespace fs = std::filesystem;

void write_staged_file(const fs::path& path, const std::string& text, fs::perms perms) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("write " + path.string());
  fs::permissions(path, perms);
}

void write_staged_link(const fs::path& path, const std::string& target) {
  fs::create_directories(path.parent_path());
  fs::create_symlink(target, path);  // throws fs::filesystem_error
}

std::string random_chars(size_t n, const char* alphabet) {
  std::string bytes(n, '\0'), out(n, '0');
  if (getrandom(bytes.data(), n, 0) != static_cast<ssize_t>(n)) throw std::runtime_error("getrandom");
  size_t len = std::char_traits<char>::length(alphabet);
  for (size_t i = 0; i < n; ++i) out[i] = alphabet[static_cast<unsigned char>(bytes[i]) % len];
  return out;
}

}  // namespace modelvet::sandbox
