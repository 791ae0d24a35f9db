#pragma once
// batch's JSON Lines output: appending whole lines, and reading it back for --resume.
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelvet {

struct ResumeState {
  std::set<std::string> done;              // `path` of every result already in the output
  std::vector<nlohmann::json> results;     // those results (for the summary of the whole output)
  bool dropped_torn_line = false;          // an unterminated last line that is no result was cut off
  std::vector<std::string> warnings;       // lines that are not results (kept as they are)
};

// Reads `path` (missing: nothing done). Only an unterminated LAST line that does not parse as a
// result is dropped (the file is truncated before it); a complete last line missing only its
// newline gets one; any other line that is not a result is kept and named in `warnings`.
ResumeState resume_output(const std::string& path);

// One whole write per call, retried on partial writes and EINTR: a line is never interleaved.
bool write_all(int fd, const std::string& bytes);

}  // namespace modelvet
