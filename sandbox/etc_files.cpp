// The jail's generated /etc, written on the host side before the jail exists.
#include "sandbox/etc_files.h"

#include <sys/random.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/core.h>

#include "sandbox/decoys.h"

namespace modelvet::sandbox {
namespace fs = std::filesystem;
namespace {

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A Debian 12 desktop's accounts (base-passwd's, then the ones systemd, D-Bus, avahi and GDM
// add), and the user's: three lines would tell a sandbox from a workstation. The host's users and
// groups stay invisible. The user is in no supplementary group here, as getgroups() says.
constexpr const char* kSystemAccounts =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "bin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
    "sys:x:3:3:sys:/dev:/usr/sbin/nologin\n"
    "sync:x:4:65534:sync:/bin:/bin/sync\n"
    "games:x:5:60:games:/usr/games:/usr/sbin/nologin\n"
    "man:x:6:12:man:/var/cache/man:/usr/sbin/nologin\n"
    "lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin\n"
    "mail:x:8:8:mail:/var/mail:/usr/sbin/nologin\n"
    "news:x:9:9:news:/var/spool/news:/usr/sbin/nologin\n"
    "uucp:x:10:10:uucp:/var/spool/uucp:/usr/sbin/nologin\n"
    "proxy:x:13:13:proxy:/bin:/usr/sbin/nologin\n"
    "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
    "backup:x:34:34:backup:/var/backups:/usr/sbin/nologin\n"
    "list:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin\n"
    "irc:x:39:39:ircd:/run/ircd:/usr/sbin/nologin\n"
    "_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    "systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin\n"
    "systemd-timesync:x:997:997:systemd Time Synchronization:/:/usr/sbin/nologin\n"
    "messagebus:x:100:107::/nonexistent:/usr/sbin/nologin\n"
    "tss:x:101:108:TPM software stack,,,:/var/lib/tpm:/bin/false\n"
    "avahi-autoipd:x:102:110:Avahi autoip daemon,,,:/var/lib/avahi-autoipd:/usr/sbin/nologin\n"
    "usbmux:x:103:46:usbmux daemon,,,:/var/lib/usbmux:/usr/sbin/nologin\n"
    "dnsmasq:x:104:65534:dnsmasq,,,:/var/lib/misc:/usr/sbin/nologin\n"
    "avahi:x:105:113:Avahi mDNS daemon,,,:/run/avahi-daemon:/usr/sbin/nologin\n"
    "speech-dispatcher:x:106:29:Speech Dispatcher,,,:/run/speech-dispatcher:/bin/false\n"
    "fwupd-refresh:x:107:114:fwupd-refresh user,,,:/run/systemd:/usr/sbin/nologin\n"
    "saned:x:108:116::/var/lib/saned:/usr/sbin/nologin\n"
    "geoclue:x:109:117::/var/lib/geoclue:/usr/sbin/nologin\n"
    "polkitd:x:996:996:polkit:/nonexistent:/usr/sbin/nologin\n"
    "rtkit:x:110:118:RealtimeKit,,,:/proc:/usr/sbin/nologin\n"
    "colord:x:111:119:colord colour management daemon,,,:/var/lib/colord:/usr/sbin/nologin\n"
    "Debian-gdm:x:112:120:Gnome Display Manager:/var/lib/gdm3:/bin/false\n"
    "sshd:x:113:65534::/run/sshd:/usr/sbin/nologin\n";

constexpr const char* kSystemGroups =
    "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nlp:x:7:\nmail:x:8:\n"
    "news:x:9:\nuucp:x:10:\nman:x:12:\nproxy:x:13:\nkmem:x:15:\ndialout:x:20:\nfax:x:21:\nvoice:x:22:\n"
    "cdrom:x:24:\nfloppy:x:25:\ntape:x:26:\nsudo:x:27:\naudio:x:29:\ndip:x:30:\nwww-data:x:33:\n"
    "backup:x:34:\noperator:x:37:\nlist:x:38:\nirc:x:39:\nsrc:x:40:\nshadow:x:42:\nutmp:x:43:\n"
    "video:x:44:\nsasl:x:45:\nplugdev:x:46:\nstaff:x:50:\ngames:x:60:\nusers:x:100:\nnogroup:x:65534:\n"
    "systemd-journal:x:999:\nsystemd-network:x:998:\nsystemd-timesync:x:997:\ninput:x:101:\nsgx:x:102:\n"
    "kvm:x:103:\nrender:x:104:\ncrontab:x:105:\nnetdev:x:106:\nmessagebus:x:107:\ntss:x:108:\n"
    "bluetooth:x:109:\navahi-autoipd:x:110:\nssl-cert:x:111:\nlpadmin:x:112:\navahi:x:113:\n"
    "fwupd-refresh:x:114:\nscanner:x:115:saned\nsaned:x:116:\ngeoclue:x:117:\nrtkit:x:118:\n"
    "colord:x:119:\nDebian-gdm:x:120:\npolkitd:x:996:\n";

void write_identity(const fs::path& etc, int uid) {
  write_text(etc / "passwd",
             fmt::format("{0}{1}:x:{2}:{2}:Alice Chen,,,:{3}:/bin/bash\n", kSystemAccounts, kJailUser, uid, kJailHome));
  write_text(etc / "group", fmt::format("{0}{1}:x:{2}:\n", kSystemGroups, kJailUser, uid));
}

// Every name resolves through the fake network's DNS, inside the jail's netns. The nameserver is
// the local caching resolver NetworkManager's dnsmasq plugin points at, 127.0.0.1, where the fake
// DNS listens itself: a query reaches it with no tracer attached too (the sandbox tests), and its
// sessions are direct, not redirected. A query sent to the gateway (or any address) is steered
// there by the tracer and answered as well (tests/test_e2e_evasion.cpp).
void write_network(const fs::path& etc) {
  write_text(etc / "hostname", std::string(kJailHostname) + "\n");
  write_text(etc / "hosts", fmt::format("127.0.0.1\tlocalhost\n127.0.1.1\t{}\n::1\tlocalhost ip6-localhost\n", kJailHostname));
  write_text(etc / "resolv.conf", "# Generated by NetworkManager\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
  write_text(etc / "nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nservices: files\nprotocols: files\n");
}

// systemd's machine id, unique per jail like the DMI serials (a fixed one would name the sandbox).
void write_machine_id(const fs::path& etc) {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes) throw std::runtime_error("getrandom");
  std::string hex;
  for (unsigned char b : bytes) hex += fmt::format("{:02x}", b);
  write_text(etc / "machine-id", hex + "\n");
}

// Missing host files are skipped: a minimal host still gets a jail that starts.
void copy_host_files(const fs::path& etc) {
  for (const char* name : {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "protocols",
                           "services", "python3", "python3.11", "mime.types", "os-release", "debian_version",
                           "shells", "login.defs", "bash.bashrc", "profile", "inputrc", "issue", "issue.net",
                           "host.conf", "ca-certificates.conf", "ssl/openssl.cnf"}) {
    std::error_code ec;
    fs::path src = fs::path("/etc") / name;
    if (!fs::exists(fs::symlink_status(src))) continue;
    fs::create_directories((etc / name).parent_path(), ec);
    fs::copy(src, etc / name,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks | fs::copy_options::overwrite_existing, ec);
  }
}

// The configuration directories a desktop's /etc has (empty here: their files would name the
// host), so that /etc lists what a workstation's does. The CA store is the Mozilla set as
// update-ca-certificates lays it out (a link per certificate into /usr/share/ca-certificates, and
// the bundle's mount point), not the host's, which names the host's own CAs (this CI host's has
// a sandboxing egress CA).
void write_etc_skeleton(const fs::path& etc) {
  for (const char* dir : {"apt", "cron.d", "cron.daily", "cron.weekly", "default", "systemd", "X11", "xdg", "fonts",
                          "security", "pam.d", "sudoers.d", "udev", "dbus-1", "NetworkManager", "init.d",
                          "logrotate.d", "modprobe.d", "sysctl.d", "skel", "ssh", "gdm3", "pulse", "cups",
                          "bluetooth", "sane.d", "polkit-1", "apparmor.d", "profile.d", "ssl/certs", "ssl/private", "opt",
                          "gtk-3.0", "vim", "grub.d", "kernel", "network", "ppp", "rsyslog.d", "update-motd.d"})
    fs::create_directories(etc / dir);
  std::error_code ec;
  for (const auto& cert : fs::directory_iterator("/usr/share/ca-certificates/mozilla", ec)) {
    const std::string name = cert.path().stem().string() + ".pem";
    std::error_code ignored;
    fs::create_symlink(cert.path(), etc / "ssl/certs" / name, ignored);
  }
  if (fs::is_regular_file(kCaBundleSource, ec)) std::ofstream(etc / "ssl/certs/ca-certificates.crt");
}

}  // namespace

void write_etc(const std::string& etc_dir, int uid) {
  const fs::path etc(etc_dir);
  write_identity(etc, uid);
  write_network(etc);
  write_machine_id(etc);
  // /etc/alternatives (hundreds of symlinks: /usr/bin/nc, awk, ... point into it) is bind-mounted
  // read-only by enter_rootfs instead: copying it cost ~0.2 s per jail. This is its mount point.
  fs::create_directories(etc / "alternatives");
  write_etc_skeleton(etc);
  copy_host_files(etc);
}

}  // namespace modelvet::sandbox
