#pragma once
// Shared by the fuzz targets: the input as a string_view, and a private scratch file for the
// parsers that only take a path (manifests, reports, trace files). Bounded: one file per target
// process, overwritten for each input, removed at exit.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace modelvet::fuzz {

inline std::string_view as_bytes(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A directory of its own under $TMPDIR (or /dev/shm, which is memory), made once per process.
class ScratchDir {
 public:
  static ScratchDir& get() {
    static ScratchDir dir;
    return dir;
  }
  const std::filesystem::path& path() const { return path_; }
  // Writes `bytes` to <dir>/<name> (replacing it) and returns the file's path.
  std::string write(const std::string& name, std::string_view bytes) const {
    std::string p = (path_ / name).string();
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) abort();  // the harness itself is broken, not the parser
    for (size_t off = 0; off < bytes.size();) {
      ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
      if (n <= 0) abort();
      off += size_t(n);
    }
    close(fd);
    return p;
  }

 private:
  ScratchDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp")) +
                       "/modelvet-fuzz-XXXXXX";
    if (!mkdtemp(tmpl.data())) abort();
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::filesystem::path path_;
};

}  // namespace modelvet::fuzz
