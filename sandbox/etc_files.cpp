// The jail's generated /etc, written on the host side before the jail exists.
#include "sandbox/etc_files.h"

#include <filesystem>
#include <fstream>

#include <fmt/core.h>

#include "sandbox/decoys.h"

namespace modelvet::sandbox {
namespace fs = std::filesystem;
namespace {

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// Only the names a sample could look up: the host's users and groups stay invisible.
void write_identity(const fs::path& etc, int uid) {
  write_text(etc / "passwd", fmt::format("root:x:0:0:root:/root:/bin/bash\n"
                                         "{0}:x:{1}:{1}:Alice Chen:{2}:/bin/bash\n"
                                         "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                                         kJailUser, uid, kJailHome));
  write_text(etc / "group", fmt::format("root:x:0:\n{0}:x:{1}:\nnogroup:x:65534:\n", kJailUser, uid));
}

// Every name resolves through the fake network's DNS on 127.0.0.1, inside the jail's netns.
void write_network(const fs::path& etc) {
  write_text(etc / "hostname", std::string(kJailHostname) + "\n");
  write_text(etc / "hosts", fmt::format("127.0.0.1\tlocalhost\n127.0.1.1\t{}\n::1\tlocalhost ip6-localhost\n", kJailHostname));
  write_text(etc / "resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
  write_text(etc / "nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nservices: files\nprotocols: files\n");
}

// Missing host files are skipped: a minimal host still gets a jail that starts.
void copy_host_files(const fs::path& etc) {
  for (const char* name : {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "protocols", "services",
                           "python3", "python3.11", "mime.types", "os-release", "debian_version"}) {
    std::error_code ec;
    fs::path src = fs::path("/etc") / name;
    if (!fs::exists(fs::symlink_status(src))) continue;
    fs::copy(src, etc / name,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks | fs::copy_options::overwrite_existing, ec);
  }
}

}  // namespace

void write_etc(const std::string& etc_dir, int uid) {
  const fs::path etc(etc_dir);
  write_identity(etc, uid);
  write_network(etc);
  // /etc/alternatives (hundreds of symlinks: /usr/bin/nc, awk, ... point into it) is bind-mounted
  // read-only by enter_rootfs instead: copying it cost ~0.2 s per jail. This is its mount point.
  fs::create_directories(etc / "alternatives");
  copy_host_files(etc);
}

}  // namespace modelvet::sandbox
