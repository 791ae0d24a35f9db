#pragma once
// Shared by the tests that run the real binary on samples: running a command, and the safety
// check every detonating test makes first (the jail has its own network namespace, only lo).
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "sandbox/jail.h"

namespace modelvet::testing {

inline const std::string kBinary = std::string(MODELVET_BINARY_DIR) + "/modelvet";

struct CommandRun {
  int exit_code = -1;
  std::string out;  // stdout only
};

inline CommandRun run_command(const std::string& cmd) {
  CommandRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// modelvet's own arguments; stderr (progress, diagnostics) is dropped.
inline CommandRun run_modelvet(const std::string& args) { return run_command(kBinary + " " + args + " 2>/dev/null"); }

// A jail built the way every detonation's is must have its own netns with no route out.
inline void assert_jail_is_isolated() {
  sandbox::JailConfig cfg;
  cfg.model_path = kBinary;
  cfg.exe_path = "/bin/true";
  sandbox::NetnsView view;
  auto out = sandbox::run_jail(cfg, [&](const sandbox::JailHandle& h, std::string*) {
    view = h.netns;
    return view.isolated();
  });
  ASSERT_TRUE(out.ran) << out.error;
  ASSERT_TRUE(view.isolated()) << "jail network namespace has a route out: refusing to detonate";
}

}  // namespace modelvet::testing
