#pragma once
// The zygotes of one run (sandbox/zygote.h): one per loader, started on first use, replaced
// (never repaired) once one dies or fails a request. A loader whose zygote cannot start is
// detonated the fresh way, and the report's run.launch says so.
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "sandbox/zygote.h"

namespace modelvet {

class ZygotePool {
 public:
  // exe: the binary whose `__zygote --loader L` becomes the zygote (this one).
  explicit ZygotePool(std::string exe = "/proc/self/exe") : exe_(std::move(exe)) {}
  ~ZygotePool();  // the zygotes are killed and reaped, then the launcher thread ends
  ZygotePool(const ZygotePool&) = delete;
  ZygotePool& operator=(const ZygotePool&) = delete;
  // A healthy zygote for this loader, or null with *error (the caller then execs afresh).
  std::shared_ptr<sandbox::Zygote> for_loader(const std::string& loader, std::string* error);
  // {"started": n, "replaced": n, "live": [{"loader", "pid", "jails"}]} for the batch summary.
  nlohmann::json stats() const;

 private:
  // Runs `start` on the launcher thread and waits for it.
  std::unique_ptr<sandbox::Zygote> on_launcher(const std::function<std::unique_ptr<sandbox::Zygote>()>& start);
  void launcher_loop();

  const std::string exe_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<sandbox::Zygote>> live_;
  std::map<std::string, std::string> failed_;  // loader -> why its zygote could not start (not retried)
  int started_ = 0, replaced_ = 0;

  // A zygote's PR_SET_PDEATHSIG follows the thread that forked it, not the process: forked by a
  // batch worker that finishes early, it would die (and every jail it is still forking with it)
  // while other workers use it. So zygotes are forked by one thread that lives as long as the pool.
  std::thread launcher_;
  std::mutex launch_mu_;
  std::condition_variable launch_cv_;
  std::function<void()> pending_;  // one request at a time: for_loader holds mu_ while it waits
  bool stopping_ = false;
};

}  // namespace modelvet
