// The decoy workstation's generated identity (see workstation.h).
#include "sandbox/workstation.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/core.h>

#include "sandbox/decoy_programs.h"
#include "sandbox/decoys.h"
#include "sandbox/hardware_bus.h"
#include "sandbox/staged_file.h"

namespace modelvet::sandbox {
namespace fs = std::filesystem;
namespace {

// One machine: a Dell Precision tower with an RTX A6000, serials unique per run.
constexpr const char* kCpuModel = "Intel(R) Xeon(R) W-2245 CPU @ 3.90GHz";
constexpr const char* kNvidiaVersion =
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.183.01  Sun May 12 19:39:15 UTC 2024\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14) \n";

// /sys/class/dmi/id as the kernel shows it: serials and the UUID readable by root only.
void write_dmi(const fs::path& dir) {
  const std::string service_tag = random_chars(7, "BCDFGHJKLMNPQRSTVWXYZ0123456789");
  const std::string hex = random_chars(32, "0123456789abcdef");
  const std::string uuid = fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                                       hex.substr(16, 4), hex.substr(20, 12));
  const std::vector<std::pair<std::string, std::string>> public_fields = {
      {"sys_vendor", "Dell Inc."}, {"product_name", "Precision 7920 Tower"}, {"product_version", ""},
      {"product_family", "Precision"}, {"product_sku", "073A"}, {"board_vendor", "Dell Inc."},
      {"board_name", "060K5C"}, {"board_version", "A03"}, {"board_asset_tag", ""},
      {"bios_vendor", "Dell Inc."}, {"bios_version", "2.30.0"}, {"bios_date", "03/15/2024"},
      {"bios_release", "2.30"}, {"chassis_vendor", "Dell Inc."}, {"chassis_type", "7"},
      {"chassis_version", ""}, {"chassis_asset_tag", ""},
      {"modalias", "dmi:bvnDellInc.:bvr2.30.0:bd03/15/2024:br2.30:svnDellInc.:pnPrecision7920Tower:pvr:"
                   "rvnDellInc.:rn060K5C:rvrA03:cvnDellInc.:ct7:cvr:sku073A:"},
  };
  for (const auto& [name, value] : public_fields) write_staged_file(dir / name, value + "\n");
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"product_serial", service_tag}, {"product_uuid", uuid}, {"board_serial", "/" + service_tag + "/CNFCW0041F00RT/"},
           {"chassis_serial", service_tag}})
    write_staged_file(dir / name, value + "\n", fs::perms(0400));
  write_staged_file(dir / "uevent", "MODALIAS=dmi:bvnDellInc.:bvr2.30.0:svnDellInc.:pnPrecision7920Tower:\n", fs::perms(0644));
}

// The host's own /proc/cpuinfo (so the processor count agrees with sched_getaffinity, nproc and
// os.cpu_count()), naming the workstation's CPU and without the hypervisor flag.
void write_cpuinfo(const fs::path& path) {
  std::ifstream in("/proc/cpuinfo");
  std::ostringstream out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      line = std::string("model name\t: ") + kCpuModel;
    } else if (line.rfind("flags", 0) == 0) {
      for (size_t at; (at = line.find(" hypervisor")) != std::string::npos;) line.erase(at, 11);
    }
    out << line << "\n";
  }
  write_staged_file(path, out.str());
}

void write_nvidia_driver(const fs::path& dir) {
  write_staged_file(dir / "nvidia/version", kNvidiaVersion);
  write_staged_file(dir / "nvidia/gpus/0000:65:00.0/information",
             "Model: \t\t NVIDIA RTX A6000\nIRQ:   \t\t 156\nGPU UUID: \t GPU-5b1e7c2a-93d4-4f0e-b8a6-2c7d91e04f3b\n"
             "Video BIOS: \t 94.02.5c.00.03\nBus Type: \t PCIe\nDMA Size: \t 47 bits\nDMA Mask: \t 0x7fffffffffff\n"
             "Bus Location: \t 0000:65:00.0\nDevice Minor: \t 0\nGPU Excluded:\t No\n");
  write_staged_file(dir / "nvidia/params", "ResmanDebugLevel: 4294967295\nEnableMSI: 1\n");
}

}  // namespace

void write_machine_identity(const std::string& staging_dir) {
  const fs::path stage(staging_dir);
  write_dmi(stage / kStagedDmi);
  write_cpuinfo(stage / kStagedCpuinfo);
  write_nvidia_driver(stage / kStagedProcDriver);
  write_hardware_bus(staging_dir);
  write_decoy_programs((stage / kStagedPrograms).string());
}

std::vector<std::string> session_environment(int uid, int tmux_pid) {
  const std::string run = fmt::format("/run/user/{}", uid);
  return {"DISPLAY=:1", "XDG_SESSION_TYPE=x11", "XDG_CURRENT_DESKTOP=GNOME", "XDG_SESSION_DESKTOP=gnome",
          "XDG_RUNTIME_DIR=" + run, "DBUS_SESSION_BUS_ADDRESS=unix:path=" + run + "/bus",
          fmt::format("TMUX=/tmp/tmux-{}/default,{},0", uid, tmux_pid), "TMUX_PANE=%1", "CUDA_VISIBLE_DEVICES=0",
          "CONDA_DEFAULT_ENV=ml", "EDITOR=vim"};
}

SessionProcess session_init() { return {"systemd", {"/lib/systemd/systemd", "--user"}}; }

// A GNOME login (gdm's Xorg, gnome-shell) with a tmux session training a model and Jupyter open:
// what `ps -u alice` shows.
std::vector<SessionProcess> session_processes(int uid) {
  const std::string run = fmt::format("/run/user/{}", uid);
  return {
      {"(sd-pam)", {"(sd-pam)"}},
      {"pipewire", {"/usr/bin/pipewire"}},
      {"dbus-daemon", {"/usr/bin/dbus-daemon", "--session", "--address=systemd:", "--nofork", "--nopidfile",
                       "--systemd-activation", "--syslog-only"}},
      {"gnome-keyring-d", {"/usr/bin/gnome-keyring-daemon", "--foreground", "--components=pkcs11,secrets",
                           "--control-directory=" + run + "/keyring"}},
      {kXorgComm, {"/usr/lib/xorg/Xorg", "vt2", "-displayfd", "3", "-auth", run + "/gdm/Xauthority", "-nolisten", "tcp",
                   "-background", "none", "-noreset", "-keeptty", "-novtswitch", "-verbose", "3"}},  // listens on kXSocket
      {"gnome-shell", {"/usr/bin/gnome-shell"}},
      {"gvfsd", {"/usr/libexec/gvfsd"}},
      {"ssh-agent", {"/usr/bin/ssh-agent", "-D", "-a", run + "/openssh_agent"}},
      {"gnome-terminal-", {"/usr/libexec/gnome-terminal-server"}},
      {"bash", {"bash"}},
      {"tmux: server", {"tmux", "new", "-s", "train"}},
      {"bash", {"-bash"}},
      {"python3", {"python3", "train.py", "--config", "configs/sentiment.yaml", "--epochs", "20"}},
      {"jupyter-lab", {"/usr/bin/python3", fmt::format("/home/{}/.local/bin/jupyter-lab", kJailUser), "--no-browser",
                       "--port=8888"}},
      {"python3", {"/usr/bin/python3", "-m", "ipykernel_launcher", "-f",
                   fmt::format("/home/{}/.local/share/jupyter/runtime/kernel-8c1f2e4a-57b9-4d3e-a1c6-0f9e2b7d4a13.json", kJailUser)}},
      {"tensorboard", {"/usr/bin/python3", "-m", "tensorboard.main", "--logdir", "runs", "--port", "6006"}},
  };
}

SessionProcess loader_shell() { return {"bash", {"bash"}}; }

}  // namespace modelvet::sandbox
