#pragma once
// The programs a workstation has that the host view lacks (a web browser, xdg-open,
// nvidia-smi, lspci, and curl/wget/git/ssh/pip where the host has none), and the ones whose
// answer would name the host's hypervisor (systemd-detect-virt, lscpu), as small shell scripts that
// answer like the real thing and touch nothing: their exec is the evidence (the tracer records
// it with its arguments; policies/default.json has rules for a browser or a network tool
// started with a remote target). Mounted read-only on /usr/local/bin, first on PATH.
#include <string>

namespace modelvet::sandbox {

// Writes the scripts into dir (created). Throws on a write failure.
void write_decoy_programs(const std::string& dir);

}  // namespace modelvet::sandbox
