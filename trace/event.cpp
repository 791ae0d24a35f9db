#include "trace/event.h"

#include <set>
#include <utility>

#include <fmt/core.h>

namespace modelvet {
namespace {

const std::set<std::pair<std::string, std::string>>& known_kinds() {
  using namespace kinds;
  static const std::set<std::pair<std::string, std::string>> known = [] {
    std::set<std::pair<std::string, std::string>> s;
    for (const char* k : {kExec, kFork, kExit, kOpen, kUnlink, kRename, kLink, kMkdir, kChmod, kWrite, kSocket, kConnect,
                          kBind, kSendto, kListen, kNetRedirect, kMmapExec, kMemfdCreate, kPtrace, kKill,
                          kSyscallAttempt, kDenied, kLimit})
      s.emplace(kSourceKernel, k);
    for (const char* k : {kPhase, kCall, kAudit, kStub, kLoad, kExercise, kTimeWarp, kHarnessError, kTamper})
      s.emplace(kSourcePython, k);
    for (const char* k : {kTcpConnect, kHttp, kDns, kUdp}) s.emplace(kSourceNet, k);
    return s;
  }();
  return known;
}

}  // namespace

bool is_known_source(const std::string& source) {
  return source == kSourceKernel || source == kSourcePython || source == kSourceNet;
}

bool is_known_kind(const std::string& source, const std::string& kind) {
  return known_kinds().count({source, kind}) > 0;
}

bool read_event(const nlohmann::json& j, Event* event, std::string* error) {
  if (!j.is_object()) return *error = "an event is not a JSON object", false;
  auto t = j.find("t_ns"), src = j.find("source"), kind = j.find("kind"), pid = j.find("pid");
  if (t == j.end() || !t->is_number_integer() || t->get<int64_t>() < 0) return *error = "event without an unsigned t_ns", false;
  if (src == j.end() || !src->is_string() || !is_known_source(*src))
    return *error = fmt::format("event with unknown source {}", src == j.end() ? "(none)" : src->dump()), false;
  if (kind == j.end() || !kind->is_string() || !is_known_kind(*src, *kind))
    return *error = fmt::format("unknown {} event kind {}", src->get<std::string>(), kind == j.end() ? "(none)" : kind->dump()),
           false;
  if (pid == j.end() || !pid->is_number_integer()) return *error = "event without an integer pid", false;
  *event = event_from_json(j);
  return true;
}

}  // namespace modelvet
