#pragma once
// The machine a sample sees: one data scientist's GPU workstation (gpu-ws-07), consistent
// wherever a sample looks. Hardware identity (DMI, CPU, GPU driver) and the decoy programs on
// PATH are generated on the host into the staging dir and mounted read-only by rootfs.cpp; the
// session's processes are forked by the jail's pid 1 (session_tree.cpp); the session's
// environment goes to the harness.
#include <string>
#include <vector>

namespace modelvet::sandbox {

// Under the staging dir (relative): what enter_rootfs mounts read-only.
inline constexpr const char* kStagedDmi = "machine/dmi";              // → /sys/class/dmi/id
inline constexpr const char* kStagedCpuinfo = "machine/cpuinfo";      // → /proc/cpuinfo
inline constexpr const char* kStagedProcDriver = "machine/driver";    // → /proc/driver (nvidia/)
inline constexpr const char* kStagedPrograms = "machine/bin";         // → /usr/local/bin
inline constexpr const char* kStagedLoader = "machine/python3";       // → kLoaderPath (the harness)
// The harness binary as the jail sees it: exec'd from there, so /proc/<pid>/exe names it.
inline constexpr const char* kLoaderPath = "/opt/conda/bin/python3";
// Character devices the GPU driver would have made (bound to /dev/null: open works, reads EOF).
inline const std::vector<std::string> kGpuDevices = {"nvidia0", "nvidiactl", "nvidia-uvm", "nvidia-modeset"};

// Writes the machine's generated files under <staging>/machine. Throws on a write failure.
void write_machine_identity(const std::string& staging_dir);

// The desktop session's variables (DISPLAY, XDG_*, DBUS_SESSION_BUS_ADDRESS, TMUX, ...) for uid,
// whose tmux server runs as tmux_pid.
std::vector<std::string> session_environment(int uid, int tmux_pid);

// One process of the desktop session: its comm and command line.
struct SessionProcess {
  std::string comm;
  std::vector<std::string> argv;
};
// The X server's socket for DISPLAY=:1: the session's Xorg decoy listens on it.
inline constexpr const char* kXorgComm = "Xorg";
inline constexpr const char* kXSocket = "/tmp/.X11-unix/X1";
// The jail's pid 1 (`systemd --user`), the session's other processes, the loader's parent shell.
SessionProcess session_init();
std::vector<SessionProcess> session_processes(int uid);
SessionProcess loader_shell();

}  // namespace modelvet::sandbox
