#include "verifier/file_info.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>
#include <memory>

#include <fmt/core.h>

namespace modelvet {
namespace {

std::string to_hex(const unsigned char* d, unsigned n) {
  std::string s;
  for (unsigned i = 0; i < n; ++i) s += fmt::format("{:02x}", d[i]);
  return s;
}

}  // namespace

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return to_hex(md, n);
}

FileInfo inspect_file(const std::string& path) {
  FileInfo info;
  info.path = path;
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) {
    info.error = fmt::format("cannot read: {}", strerror(errno));
    return info;
  }
  if (S_ISDIR(st.st_mode)) {
    // A SavedModel directory: the hash covers every file's relative path and content, in
    // sorted order, so the same model hashes the same wherever it sits.
    info.is_directory = true;
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) files.push_back(it->path());
    std::sort(files.begin(), files.end());
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
    std::string buf(1 << 20, '\0');
    for (const auto& f : files) {
      std::string rel = std::filesystem::relative(f, path).string();
      EVP_DigestUpdate(ctx.get(), rel.c_str(), rel.size() + 1);
      std::ifstream in(f, std::ios::binary);
      while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
        EVP_DigestUpdate(ctx.get(), buf.data(), in.gcount());
        info.size += in.gcount();
      }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &n);
    info.sha256 = to_hex(md, n);
    if (files.empty()) info.error = "empty directory: nothing to load";
    return info;
  }
  if (!S_ISREG(st.st_mode)) {
    info.error = "not a regular file";
    return info;
  }
  info.size = st.st_size;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    info.error = fmt::format("cannot open: {}", strerror(errno));
    return info;
  }
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::string buf(1 << 20, '\0');
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), in.gcount());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  info.sha256 = to_hex(md, n);
  if (info.size == 0) info.error = "empty file (0 bytes): nothing to load";
  return info;
}

}  // namespace modelvet
