// Small shared helpers: file mapping, names, the "is this a pickle" test.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

std::string extension_of(std::string_view name) {
  size_t slash = name.find_last_of('/');
  std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  size_t dot = base.find_last_of('.');
  return dot == std::string_view::npos || dot == 0 ? std::string() : lower(base.substr(dot));
}

bool member_path_escapes(std::string_view name) {
  if (starts_with(name, "/") || starts_with(name, "\\")) return true;
  int depth = 0;
  while (!name.empty()) {
    size_t slash = name.find_first_of("/\\");
    std::string_view part = name.substr(0, slash);
    if (part == "..") {
      if (--depth < 0) return true;
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    if (slash == std::string_view::npos) break;
    name.remove_prefix(slash + 1);
  }
  return false;
}

MappedFile::MappedFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error_ = fmt::format("open {}: {}", path, std::strerror(errno));
    return;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error_ = fmt::format("{}: not a regular file", path);
  } else if (st.st_size > 0) {
    void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) error_ = fmt::format("mmap {}: {}", path, std::strerror(errno));
    else {
      data_ = p;
      size_ = static_cast<size_t>(st.st_size);
    }
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, size_);
}

bool looks_like_pickle(std::string_view head) {
  if (head.empty()) return false;
  if (uint8_t(head[0]) == 0x80) return head.size() >= 2 && uint8_t(head[1]) <= 5;
  // Protocol 0/1 has no magic: the stream must start with an opcode that begins a value and
  // parse without an unknown opcode, to its STOP or to the end of the bytes we were given.
  if (std::strchr("(cid}])NKJIFLSVXUTGl", head[0]) == nullptr || head[0] == 0) return false;
  PickleScan ps;
  uint64_t used = pickle_stream_length(head.substr(0, 1 << 20), ps);
  for (const auto& a : ps.anomalies)
    if (a.rfind("unknown opcode", 0) == 0 || a.find("underflow") != std::string::npos ||
        a.find("no MARK") != std::string::npos)
      return false;
  return ps.complete || (used >= std::min<size_t>(head.size(), 1 << 20) && used >= 16);
}

}  // namespace modelvet::prescan
