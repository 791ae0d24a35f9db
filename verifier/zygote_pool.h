#pragma once
// The zygotes of one run (sandbox/zygote.h): one per loader, started on first use, replaced
// (never repaired) once one dies or fails a request. A loader whose zygote cannot start is
// detonated the fresh way, and the report's run.launch says so.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "sandbox/zygote.h"

namespace modelvet {

class ZygotePool {
 public:
  // exe: the binary whose `__zygote --loader L` becomes the zygote (this one).
  explicit ZygotePool(std::string exe = "/proc/self/exe") : exe_(std::move(exe)) {}
  // A healthy zygote for this loader, or null with *error (the caller then execs afresh).
  std::shared_ptr<sandbox::Zygote> for_loader(const std::string& loader, std::string* error);
  // {"started": n, "replaced": n, "live": [{"loader", "pid", "jails"}]} for the batch summary.
  nlohmann::json stats() const;

 private:
  const std::string exe_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<sandbox::Zygote>> live_;
  std::map<std::string, std::string> failed_;  // loader -> why its zygote could not start (not retried)
  int started_ = 0, replaced_ = 0;
};

}  // namespace modelvet
