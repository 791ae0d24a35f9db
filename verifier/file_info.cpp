#include "verifier/file_info.h"

#include <openssl/evp.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

const char* kind_of(mode_t m) {
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISLNK(m)) return "a symlink";
  return "not a regular file";
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
    // ELOOP (a symlink loop), ENOENT (dangling, or gone since the walk), EACCES.
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
    // Never opened: a FIFO would block the supervisor, a device open can have effects.
    info.error = fmt::format("not a regular file ({}): nothing to load", kind_of(st.st_mode));
    return info;
  }
  // O_NONBLOCK and a second fstat: if the name was swapped for a FIFO or a device since the
  // stat above, the open does not block and the file is refused.
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    info.error = fmt::format("cannot open: {}", strerror(errno));
    return info;
  }
  struct stat fst{};
  if (fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode)) {
    info.error = fmt::format("not a regular file ({}): changed while it was read", kind_of(fst.st_mode));
    close(fd);
    return info;
  }
  info.size = fst.st_size;
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::string buf(1 << 20, '\0');
  ssize_t n_read = 0;
  uint64_t hashed = 0;
  while ((n_read = read(fd, buf.data(), buf.size())) != 0) {
    if (n_read < 0) {
      if (errno == EINTR) continue;
      info.error = fmt::format("cannot read: {}", strerror(errno));
      close(fd);
      info.sha256.clear();
      return info;
    }
    EVP_DigestUpdate(ctx.get(), buf.data(), size_t(n_read));
    hashed += uint64_t(n_read);
  }
  close(fd);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  info.sha256 = to_hex(md, n);
  if (hashed != info.size) {
    info.error = fmt::format("file changed while it was read ({} bytes at stat, {} read)", info.size, hashed);
    return info;
  }
  if (info.size == 0) info.error = "empty file (0 bytes): nothing to load";
  return info;
}

}  // namespace modelvet
