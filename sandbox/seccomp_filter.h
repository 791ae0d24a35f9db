#pragma once
// The jail's seccomp filter, built with libseccomp in the supervisor and loaded by the jail's
// first process just before it execs the harness. Building it in the supervisor keeps
// allocation out of the forked child; loading a ready program is a single prctl.
#include <linux/filter.h>

#include <string>
#include <vector>

namespace modelvet::sandbox {

class SeccompProgram {
 public:
  // Denies the kernel attack surface with EPERM (so the tracer sees each attempt at sys_exit,
  // with its arguments); leaves exec and connect allowed so the tracer sees them too.
  static SeccompProgram build(std::string* error);
  // A program given as classic BPF (tests compare a jail under build()'s program with one under
  // a program that allows everything).
  static SeccompProgram from_filter(std::vector<sock_filter> filter);
  bool valid() const { return !filter_.empty(); }
  // Async-signal-safe: safe between fork and exec.
  bool install() const;
  size_t instructions() const { return filter_.size(); }
  // The classic BPF program, for evaluating it in user space (tracer/seccomp_eval.h, tests).
  const std::vector<sock_filter>& filter() const { return filter_; }
  // The syscalls denied with EPERM whatever their arguments, for `doctor` and the trace header:
  // the MV_DENY rows of trace/syscall_table.h (clone and clone3 have rules of their own).
  static const std::vector<const char*>& denied_syscalls();

 private:
  std::vector<sock_filter> filter_;
};

}  // namespace modelvet::sandbox
