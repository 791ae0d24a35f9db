#pragma once
// The kernel-side witness a detonation runs under: eBPF where the host allows it, otherwise
// the ptrace fallback, labelled as such in every report. Never none: without either, every
// file is an `error`.
#include <memory>
#include <string>

#include "sandbox/jail.h"
#include "tracer/tracer.h"

namespace modelvet {

// One jail's recording, whichever backend made it.
class Observation {
 public:
  virtual ~Observation() = default;
  // After the jail is gone: its events in time order, then the counters.
  virtual Events finish() = 0;
  virtual tracer::Stats stats() const = 0;
};

class Observer {
 public:
  // choice: "ebpf", "ptrace", or "auto" (eBPF, else ptrace). nullptr with *error when none works.
  static std::unique_ptr<Observer> start(const std::string& choice, std::string* error);
  virtual ~Observer() = default;
  virtual std::string backend() const = 0;
  virtual std::vector<std::string> active_hooks() const = 0;
  // Called while the jail waits for "go", so nothing of the sample runs unobserved.
  virtual std::unique_ptr<Observation> watch(const sandbox::JailHandle& jail, std::string* error) = 0;
};

}  // namespace modelvet
