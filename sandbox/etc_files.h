#pragma once
// The jail's generated /etc: its user, hostname and resolver, and the host files Python needs.
#include <string>

namespace modelvet::sandbox {

// Writes the tree under etc_dir (in the staging dir; the jail sees it read-only as /etc) for
// the jail user `uid`. Throws std::filesystem::filesystem_error when a directory cannot be made.
void write_etc(const std::string& etc_dir, int uid);

// The CA bundle shown as /etc/ssl/certs/ca-certificates.crt (bound read-only by rootfs.cpp):
// the Mozilla set a Debian package ships, not the host's own store, which names the host's CAs.
inline constexpr const char* kCaBundleSource = "/usr/lib/python3/dist-packages/certifi/cacert.pem";
inline constexpr const char* kCaBundlePath = "/etc/ssl/certs/ca-certificates.crt";

}  // namespace modelvet::sandbox
