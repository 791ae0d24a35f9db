#include "sandbox/plan_codec.h"

#include <stdexcept>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace modelvet::sandbox {
namespace {

nlohmann::json limits_json(const Limits& l) {
  return {{"address_space", l.address_space}, {"memory", l.memory},       {"cpu_seconds", l.cpu_seconds},
          {"processes", l.processes},         {"open_files", l.open_files}, {"file_size", l.file_size},
          {"scratch_bytes", l.scratch_bytes}, {"home_bytes", l.home_bytes}};
}

Limits limits_from(const nlohmann::json& j) {
  Limits l;
  l.address_space = j.at("address_space"), l.memory = j.at("memory"), l.cpu_seconds = j.at("cpu_seconds");
  l.processes = j.at("processes"), l.open_files = j.at("open_files"), l.file_size = j.at("file_size");
  l.scratch_bytes = j.at("scratch_bytes"), l.home_bytes = j.at("home_bytes");
  return l;
}

// A file name (and so argv) may hold any byte: those strings travel as hex, exactly.
std::string hex(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

nlohmann::json hex_all(const std::vector<std::string>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : v) out.push_back(hex(s));
  return out;
}

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(char(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<std::string> unhex_all(const nlohmann::json& v) {
  std::vector<std::string> out;
  for (const auto& s : v) out.push_back(unhex(s.get<std::string>()));
  return out;
}

}  // namespace

EncodedPlan encode_plan(const ChildPlan& p) {
  nlohmann::json filter = nlohmann::json::array();
  for (const sock_filter& f : p.seccomp->filter()) filter.push_back({f.code, f.jt, f.jf, f.k});
  nlohmann::json j = {
      {"rootfs", {{"staging", p.rootfs.staging}, {"model_name", hex(p.rootfs.model_name)}, {"uid", p.rootfs.uid},
                  {"gid", p.rootfs.gid}, {"limits", limits_json(p.rootfs.limits)}}},
      {"seccomp", filter},
      {"argv", hex_all(p.argv)},
      {"envp", hex_all(p.envp)},
      {"user_namespace", p.user_namespace},
      {"host_uid", p.host_uid},
      {"host_gid", p.host_gid},
      {"cgroup", p.user_namespace ? "" : p.cgroup->path()},
      {"v1_pids", p.user_namespace ? "" : p.v1->pids_dir()},
      {"v1_memory", p.user_namespace ? "" : p.v1->memory_dir()},
      {"exit_pipe", p.exit_w >= 0},
  };
  EncodedPlan out{j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {}};
  out.fds = {p.event_w, p.output_w, p.status_w, p.go_r, p.handoff_w, p.exe_fd};
  if (p.exit_w >= 0) out.fds.push_back(p.exit_w);
  return out;
}

ChildPlan* decode_plan(const std::string& text, const std::vector<int>& fds) {
  nlohmann::json j = nlohmann::json::parse(text);
  const bool exit_pipe = j.at("exit_pipe").get<bool>();
  if (fds.size() != size_t(exit_pipe ? kPlanFds : kExitW))
    throw std::runtime_error(fmt::format("{} descriptors for a plan of {}", fds.size(), exit_pipe ? kPlanFds : kExitW));
  auto* plan = new ChildPlan{};
  const auto& r = j.at("rootfs");
  plan->rootfs = RootfsPlan{r.at("staging"), unhex(r.at("model_name")), r.at("uid"), r.at("gid"), limits_from(r.at("limits"))};
  std::vector<sock_filter> filter;
  for (const auto& f : j.at("seccomp")) filter.push_back(sock_filter{f[0], f[1], f[2], f[3]});
  plan->seccomp = new SeccompProgram(SeccompProgram::from_filter(std::move(filter)));
  plan->argv = unhex_all(j.at("argv"));
  plan->envp = unhex_all(j.at("envp"));
  plan->exe_fd = fds[kExeFd], plan->event_w = fds[kEventW], plan->output_w = fds[kOutputW];
  plan->status_w = fds[kStatusW], plan->go_r = fds[kGoR], plan->handoff_w = fds[kHandoffW];
  plan->exit_w = exit_pipe ? fds[kExitW] : -1;
  plan->user_namespace = j.at("user_namespace");
  plan->host_uid = j.at("host_uid"), plan->host_gid = j.at("host_gid");
  plan->cgroup = new JailCgroup(JailCgroup::for_joining(j.at("cgroup")));
  plan->v1 = new V1Limits(V1Limits::for_joining(j.at("v1_pids"), j.at("v1_memory")));
  return plan;
}

}  // namespace modelvet::sandbox
