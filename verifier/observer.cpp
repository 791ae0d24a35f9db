#include "verifier/observer.h"

#include "sandbox/jail.h"
#include "tracer/ptrace_tracer.h"

namespace modelvet {
namespace {

// One backend's session: both backends finish and count a session the same way.
template <typename Tracer, typename Session>
class SessionObservation : public Observation {
 public:
  SessionObservation(Tracer* t, std::shared_ptr<Session> s) : tracer_(t), session_(std::move(s)) {}
  Events finish() override { return tracer_->finish(*session_); }
  tracer::Stats stats() const override { return tracer_->stats(*session_); }

 private:
  Tracer* tracer_;
  std::shared_ptr<Session> session_;
};
using EbpfObservation = SessionObservation<tracer::Tracer, tracer::Session>;
using PtraceObservation = SessionObservation<tracer::PtraceTracer, tracer::PtraceSession>;

// eBPF scoped to the jail's cgroup; its cgroup hooks also steer connections to the fake network.
class EbpfObserver : public Observer {
 public:
  explicit EbpfObserver(std::unique_ptr<tracer::Tracer> t) : tracer_(std::move(t)) {}
  std::string backend() const override { return tracer_->backend(); }
  std::vector<std::string> active_hooks() const override { return tracer_->active_hooks(); }
  std::unique_ptr<Observation> watch(const sandbox::JailHandle& jail, std::string* error) override {
    auto s = tracer_->watch(jail.cgroup_fd, tracer::RedirectTarget{jail.tcp_port, jail.udp_port}, error);
    return s ? std::make_unique<EbpfObservation>(tracer_.get(), std::move(s)) : nullptr;
  }

 private:
  std::unique_ptr<tracer::Tracer> tracer_;
};

// ptrace from the jail's init on: same events, and connections steered to the fake network at
// their syscall entry (tracer/ptrace_steer.h) instead of by the cgroup hooks.
class PtraceObserver : public Observer {
 public:
  std::string backend() const override { return tracer_.backend(); }
  std::vector<std::string> active_hooks() const override { return {"ptrace (fallback: no BPF on this host)"}; }
  std::unique_ptr<Observation> watch(const sandbox::JailHandle& jail, std::string* error) override {
    auto s = tracer_.watch_process(jail.init_pid, error, tracer::RedirectTarget{jail.tcp_port, jail.udp_port});
    return s ? std::make_unique<PtraceObservation>(&tracer_, std::move(s)) : nullptr;
  }

 private:
  tracer::PtraceTracer tracer_;
};

}  // namespace

std::unique_ptr<Observer> Observer::start(const std::string& choice, std::string* error) {
  // eBPF is scoped by the jail's cgroup, and rootless jails have none (nor may their user load BPF).
  if (sandbox::rootless_jails()) {
    if (choice == "ebpf") {
      *error = "eBPF needs root (rootless jails have no cgroup to scope it): use --tracer auto or ptrace";
      return nullptr;
    }
    if (choice == "auto") *error = "not root: rootless jails are observed by the ptrace fallback";
    return std::make_unique<PtraceObserver>();
  }
  if (choice != "ptrace") {
    std::string bpf_error;
    if (auto t = tracer::Tracer::start(&bpf_error)) return std::make_unique<EbpfObserver>(std::move(t));
    if (choice == "ebpf") {
      *error = bpf_error;
      return nullptr;
    }
    *error = "eBPF unavailable (" + bpf_error + "): using the ptrace fallback";
  }
  return std::make_unique<PtraceObserver>();
}

}  // namespace modelvet
