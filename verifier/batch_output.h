#pragma once
// batch's JSON Lines output: appending whole lines, and reading it back for --resume.
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelvet {

// A reported name as a result line's `path` carries it: bytes text (trace/bytes_text.h), as
// `scan` writes it, so a name that is not UTF-8 is exact in the output and matches on --resume.
std::string result_path(const std::string& display);

struct ResumeState {
  std::set<std::string> done;              // `path` of every result already in the output (bytes text)
  std::vector<nlohmann::json> results;     // those results (for the summary of the whole output)
  bool dropped_torn_line = false;          // an unterminated last line that is no result was cut off
  std::vector<std::string> warnings;       // lines that are not results (kept as they are)
  // Whether the input reported as `display` already has its line.
  bool has(const std::string& display) const { return done.count(result_path(display)) > 0; }
};

// Reads `path` (missing: nothing done). Only an unterminated LAST line that does not parse as a
// result is dropped (the file is truncated before it); a complete last line missing only its
// newline gets one; any other line that is not a result is kept and named in `warnings`.
ResumeState resume_output(const std::string& path);

// One content group's result `r` as the line of one of its names: `path` (and `duplicate_of`,
// when this name shared another's detonation) in bytes text; the name's prior and the
// reclassification it gives, when it has one.
nlohmann::json result_for_name(const nlohmann::json& r, const std::string& display, const std::string* duplicate_of,
                               const nlohmann::json& prior);

// One compact JSON Lines line (with its newline). A string that did not come through bytes text
// where it entered (an error message quoting a raw name) is made bytes text here: the line is
// always valid UTF-8, nothing is lost to U+FFFD, and nothing throws.
std::string jsonl_line(nlohmann::json j);

// One whole write per call, retried on partial writes and EINTR: a line is never interleaved.
bool write_all(int fd, const std::string& bytes);

}  // namespace modelvet
