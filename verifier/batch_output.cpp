#include "verifier/batch_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include <fmt/core.h>

#include "trace/bytes_text.h"
#include "verifier/reclassify.h"

namespace modelvet {
namespace {

bool is_result(const nlohmann::json& j) { return j.is_object() && j.contains("path") && j["path"].is_string(); }

}  // namespace

std::string result_path(const std::string& display) { return escape_bytes(display); }

nlohmann::json result_for_name(const nlohmann::json& r, const std::string& display, const std::string* duplicate_of,
                               const nlohmann::json& prior) {
  nlohmann::json one = r;
  one["path"] = result_path(display);
  if (duplicate_of) one["duplicate_of"] = result_path(*duplicate_of);
  if (!prior.is_null()) {
    one["prior"] = prior;
    auto verdict = one.find("verdict");
    std::string rc = reclassification(prior, verdict != one.end() && verdict->is_string() ? verdict->get<std::string>() : "error");
    if (!rc.empty()) one["reclassification"] = rc;
  }
  return one;
}

std::string jsonl_line(nlohmann::json j) {
  escape_invalid_strings(j);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

ResumeState resume_output(const std::string& path) {
  ResumeState st;
  std::ifstream in(path, std::ios::binary);
  if (!in) return st;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  in.close();
  size_t pos = 0, line_no = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    bool terminated = nl != std::string::npos;
    std::string line = data.substr(pos, terminated ? nl - pos : std::string::npos);
    ++line_no;
    auto j = nlohmann::json::parse(line, nullptr, false);
    bool ok = !j.is_discarded() && is_result(j);
    if (!terminated) {  // the last line
      if (ok) {
        st.done.insert(j["path"].get<std::string>());
        st.results.push_back(std::move(j));
        std::ofstream(path, std::ios::app | std::ios::binary) << "\n";
      } else if (truncate(path.c_str(), off_t(pos)) == 0) {
        st.dropped_torn_line = true;
      } else {
        st.warnings.push_back(fmt::format("{}:{}: torn last line could not be cut off", path, line_no));
      }
      break;
    }
    if (ok) {
      st.done.insert(j["path"].get<std::string>());
      st.results.push_back(std::move(j));
    } else if (!line.empty()) {
      st.warnings.push_back(fmt::format("{}:{}: not a result line; kept as it is", path, line_no));
    }
    pos = nl + 1;
  }
  return st;
}

bool write_all(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

}  // namespace modelvet
