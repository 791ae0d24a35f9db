// The jail looks like one data scientist's workstation from inside, and the tool shows nowhere:
// probes run by the real harness (a pickle whose code prints what it sees) and by plain Python
// in a jail, as root and (tests/as_nobody.sh) rootless. The isolation proof runs first each time.
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sandbox/jail.h"

namespace fs = std::filesystem;
using modelvet::sandbox::JailConfig;
using modelvet::sandbox::JailHandle;
using modelvet::sandbox::JailOutcome;

namespace {

const std::string kModelvet = std::string(MODELVET_BINARY_DIR) + "/modelvet";

uint64_t inode_of(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// A pickle that exec()s `code` in fresh globals when loaded: GLOBAL builtins.exec, BINUNICODE
// of `exec(bytes.fromhex(<code>).decode(), {})`, TUPLE1, REDUCE.
std::string exec_pickle(const std::string& probe) {
  std::string hex;
  for (unsigned char c : probe) hex += fmt::format("{:02x}", c);
  const std::string code = "exec(bytes.fromhex('" + hex + "').decode(), {})";
  std::string p = "\x80\x02" "cbuiltins\nexec\n" "X";
  uint32_t n = static_cast<uint32_t>(code.size());
  p.append(reinterpret_cast<const char*>(&n), 4);
  return p + code + "\x85" "R.";
}

nlohmann::json last_json_line(const std::string& output) {
  nlohmann::json last;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') last = nlohmann::json::parse(line, nullptr, false);
  return last;
}

// Runs `cfg` after proving its netns is the jail's own with no route out.
JailOutcome run_isolated(JailConfig cfg) {
  bool isolated = false;
  JailOutcome out = modelvet::sandbox::run_jail(cfg, [&](const JailHandle& h, std::string*) {
    isolated = h.netns.isolated() && h.netns.inode != inode_of("/proc/self/ns/net");
    return isolated;
  });
  EXPECT_TRUE(isolated) << "jail netns not isolated";
  EXPECT_TRUE(out.ran) << out.error;
  EXPECT_TRUE(out.clean_teardown);
  return out;
}

// The probe as a pickle loaded by the real harness (modelvet __harness), its last JSON line back.
nlohmann::json probe_with_harness(const std::string& code, JailOutcome* out) {
  const std::string model = "/tmp/ws-probe-" + std::to_string(geteuid()) + ".pkl";
  std::ofstream(model, std::ios::binary) << exec_pickle(code);
  JailConfig cfg;
  cfg.model_path = model;
  cfg.exe_path = kModelvet;
  cfg.harness_args = {"__harness", "--file", "{model}", "--loader", "pickle", "--format", "pickle",
                      "--event-fd", "3", "--grace-ms", "0", "--no-exercise"};
  *out = run_isolated(cfg);
  fs::remove(model);
  return last_json_line(out->output);
}

// The probe run by plain Python (the jail's exe is a copy of python3.11).
nlohmann::json probe_with_python(const std::string& code, JailOutcome* out) {
  const std::string model = "/tmp/ws-probe-" + std::to_string(geteuid()) + ".pkl";
  std::ofstream(model, std::ios::binary) << std::string("\x80\x04}\x94.", 5);
  JailConfig cfg;
  cfg.model_path = model;
  cfg.exe_path = "/usr/bin/python3.11";
  cfg.harness_args = {"-I", "-c", code};
  *out = run_isolated(cfg);
  fs::remove(model);
  return last_json_line(out->output);
}

// Everything a process can read about its host that could name the tool.
const char* kNameScan = R"PY(
import os, re, json, socket
tell = re.compile(r'modelvet|\bmv_|_mv_|modelvet-|sandbox|jail', re.I)
hits = []
def check(where, text):
    if isinstance(text, bytes): text = text.decode('utf-8', 'replace')
    m = tell.search(text)
    if m: hits.append(f'{where}: ...{text[max(0, m.start()-40):m.end()+40]}...')
for pid in [p for p in os.listdir('/proc') if p.isdigit()] + ['self']:
    for f in ('cmdline', 'environ', 'comm', 'cgroup', 'mountinfo', 'maps', 'status'):
        try:
            with open(f'/proc/{pid}/{f}', 'rb') as fh: check(f'/proc/{pid}/{f}', fh.read())
        except OSError: pass
    for link in ('exe', 'cwd', 'root'):
        try: check(f'/proc/{pid}/{link}', os.readlink(f'/proc/{pid}/{link}'))
        except OSError: pass
    try:
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try: check(f'/proc/{pid}/fd/{fd}', os.readlink(f'/proc/{pid}/fd/{fd}'))
            except OSError: pass
    except OSError: pass
check('hostname', socket.gethostname())
check('uname', ' '.join(os.uname()))
for f in ('/proc/mounts', '/etc/hostname', '/etc/hosts', '/etc/passwd', '/etc/group', '/etc/resolv.conf'):
    try: check(f, open(f, 'rb').read())
    except OSError: pass
# /usr is the host's system view by design: only what the jail puts there (/usr/local/bin).
for top in ('/home', '/tmp', '/etc', '/opt', '/run', '/usr/local/bin', '/var', '/dev', '/sys/class', '/'):
    for root, dirs, files in os.walk(top, followlinks=False):
        if root.startswith(('/proc', '/sys/devices', '/usr/lib', '/usr/share')): dirs[:] = []; continue
        for n in dirs + files: check(os.path.join(root, n), n)
        for n in files:
            p = os.path.join(root, n)
            if root.startswith(('/home', '/tmp', '/etc', '/opt', '/usr/local/bin')) and not os.path.islink(p):
                try:
                    if os.path.getsize(p) < 65536: check(p, open(p, 'rb').read())
                except OSError: pass
        if top == '/': dirs[:] = []
print(json.dumps({'hits': hits[:20], 'count': len(hits)}))
)PY";

const char* kTreeProbe = R"PY(
import os, json
def rd(p):
    try: return open(p, 'rb').read().decode()
    except OSError as e: return 'ERR ' + str(e)
me = os.getpid(); parent = os.getppid()
pids = [int(p) for p in os.listdir('/proc') if p.isdigit()]
print(json.dumps({'pid': me, 'ppid': parent, 'parent_comm': rd(f'/proc/{parent}/comm').strip(),
  'grandparent': int(rd(f'/proc/{parent}/stat').rsplit(')', 1)[1].split()[1]),
  'init_comm': rd('/proc/1/comm').strip(), 'init_cmdline': rd('/proc/1/cmdline'),
  'comm': rd('/proc/self/comm').strip(), 'cmdline': rd('/proc/self/cmdline').split('\0'),
  'exe': os.readlink('/proc/self/exe'), 'count': len(pids), 'min_other': min(p for p in pids if p != 1),
  'comms': sorted(rd(f'/proc/{p}/comm').strip() for p in pids),
  'tracer': [l for l in rd('/proc/self/status').splitlines() if l.startswith('TracerPid')][0].split()[1],
  'cgroup': [l for l in rd('/proc/self/cgroup').splitlines() if l.startswith('0::')],
  'init_cgroup': [l for l in rd('/proc/1/cgroup').splitlines() if l.startswith('0::')]}))
)PY";

}  // namespace

TEST(Workstation, NoNameOfTheToolIsVisibleFromInside) {
  ASSERT_TRUE(fs::exists(kModelvet)) << "build the modelvet target first";
  JailOutcome out;
  auto seen = probe_with_harness(kNameScan, &out);
  ASSERT_TRUE(seen.is_object()) << out.output;
  EXPECT_EQ(seen["count"], 0) << seen["hits"].dump(1);
}

TEST(Workstation, ProcessTreeIsADesktopSession) {
  JailOutcome out;
  auto t = probe_with_harness(kTreeProbe, &out);
  ASSERT_TRUE(t.is_object()) << out.output;
  EXPECT_EQ(t["init_comm"], "systemd");
  EXPECT_EQ(t["init_cmdline"], std::string("/lib/systemd/systemd\0--user\0", 28));
  EXPECT_EQ(t["parent_comm"], "bash");
  EXPECT_EQ(t["grandparent"], 1);
  EXPECT_EQ(t["comm"], "python3");
  EXPECT_EQ(t["cmdline"][0], "python3");
  EXPECT_EQ(t["exe"], "/opt/conda/bin/python3");
  EXPECT_GE(t["count"].get<int>(), 15) << t["comms"].dump();
  // Pids as on a machine up for a while: the session from ~900 on, the loader far above.
  EXPECT_GT(t["min_other"].get<int>(), 800);
  EXPECT_GT(t["pid"].get<int>(), 9000);
  EXPECT_EQ(t["ppid"].get<int>() + 1, t["pid"].get<int>());
  for (const char* comm : {"dbus-daemon", "jupyter-lab", "tmux: server", "sshd", "ssh-agent"})
    if (std::string(comm) != "sshd") EXPECT_NE(t["comms"].dump().find(comm), std::string::npos) << comm;
  // As root the jail has a cgroup of its own, laid out as a desktop session's (rootless there is
  // none: the cgroup namespace shows its root).
  if (geteuid() == 0) {
    ASSERT_EQ(t["cgroup"].size(), 1u) << t.dump();
    const std::string self = t["cgroup"][0], init = t["init_cgroup"][0];
    EXPECT_EQ(self.rfind("0::/user.slice/user-", 0), 0u) << self;
    EXPECT_NE(self.find(".service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-"), std::string::npos) << self;
    EXPECT_EQ(self.substr(self.size() - 6), ".scope") << self;
    EXPECT_EQ(init.rfind("0::/user.slice/user-", 0), 0u) << init;
    EXPECT_EQ(init.substr(init.size() - 19), ".service/init.scope") << init;
  }
}

TEST(Workstation, HardwareIdentityAgreesWithItself) {
  JailOutcome out;
  auto hw = probe_with_python(R"PY(
import os, json, shutil, subprocess
r = lambda p: open(p).read()
cpu = r('/proc/cpuinfo')
smi = subprocess.run(['nvidia-smi', '-L'], capture_output=True, text=True).stdout
print(json.dumps({'vendor': r('/sys/class/dmi/id/sys_vendor').strip(), 'product': r('/sys/class/dmi/id/product_name').strip(),
  'bios': r('/sys/class/dmi/id/bios_vendor').strip(), 'processors': cpu.count('processor\t:'),
  'cpu_count': os.cpu_count(), 'affinity': len(os.sched_getaffinity(0)), 'hypervisor': ' hypervisor' in cpu,
  'model': [l for l in cpu.splitlines() if l.startswith('model name')][0],
  'mem_kb': int(r('/proc/meminfo').split()[1]), 'nvidia0': os.path.exists('/dev/nvidia0'),
  'nvidiactl': os.path.exists('/dev/nvidiactl'), 'driver': r('/proc/driver/nvidia/version'),
  'smi': smi, 'net_class': sorted(os.listdir('/sys/class/net')), 'hostname': os.uname().nodename}))
)PY", &out);
  ASSERT_TRUE(hw.is_object()) << out.output;
  EXPECT_EQ(hw["vendor"], "Dell Inc.");
  EXPECT_EQ(hw["product"], "Precision 7920 Tower");
  EXPECT_EQ(hw["bios"], "Dell Inc.");
  EXPECT_EQ(hw["processors"], hw["cpu_count"]);
  EXPECT_EQ(hw["processors"], hw["affinity"]);
  EXPECT_FALSE(hw["hypervisor"].get<bool>());
  EXPECT_NE(hw["model"].get<std::string>().find("Xeon(R) W-2245"), std::string::npos);
  EXPECT_GE(hw["mem_kb"].get<long>(), 8L << 20);
  EXPECT_TRUE(hw["nvidia0"].get<bool>() && hw["nvidiactl"].get<bool>());
  EXPECT_NE(hw["driver"].get<std::string>().find("535.183.01"), std::string::npos);
  EXPECT_NE(hw["smi"].get<std::string>().find("RTX A6000"), std::string::npos);
  EXPECT_EQ(hw["hostname"], "gpu-ws-07");
  EXPECT_NE(hw["net_class"].dump().find("lo"), std::string::npos);
}

// The buses: sysfs's PCI devices and lspci are one list with the GPU the driver names, the disk
// is the same NVMe in /sys/block, /sys/dev/block and /proc/partitions, no hypervisor is named.
TEST(Workstation, BusesShowTheWorkstationsDevices) {
  JailOutcome out;
  auto hw = probe_with_python(R"PY(
import os, json, subprocess, socket, fcntl, struct
r = lambda p: open(p).read().strip()
pci = {d: [r(f'/sys/bus/pci/devices/{d}/{f}') for f in ('vendor', 'device', 'class')] for d in os.listdir('/sys/bus/pci/devices')}
config = open('/sys/bus/pci/devices/0000:65:00.0/config', 'rb').read()
run = lambda *a: subprocess.run(list(a), capture_output=True, text=True, timeout=10)
virt = run('systemd-detect-virt')
print(json.dumps({'pci': pci, 'config_ids': config[:4].hex(), 'gpu_link': os.path.realpath('/sys/bus/pci/devices/0000:65:00.0'),
  'lspci_n': run('lspci', '-n').stdout.splitlines(), 'lspci': run('lspci').stdout,
  'gpus': os.listdir('/proc/driver/nvidia/gpus'),
  'partitions': [l.split()[3] for l in open('/proc/partitions').read().splitlines()[2:] if l.strip()],
  'block': os.listdir('/sys/block'), 'class_block': sorted(os.listdir('/sys/class/block')),
  'dev_block': sorted(os.listdir('/sys/dev/block')),
  'model': r('/sys/block/nvme0n1/device/model'), 'disk_sectors': int(r('/sys/block/nvme0n1/size')),
  'root_part_sectors': int(r('/sys/class/block/nvme0n1p2/size')),
  'root_bytes': os.statvfs('/').f_blocks * os.statvfs('/').f_frsize,
  'virtio': os.listdir('/sys/bus/virtio/devices') if os.path.isdir('/sys/bus/virtio/devices') else [],
  'virt': [virt.stdout.strip(), virt.returncode], 'lscpu': run('lscpu').stdout,
  'nic_link': os.readlink('/sys/class/net/enp3s0'), 'nic_device': os.path.realpath('/sys/class/net/enp3s0/device'),
  'nic_subsystem': os.path.realpath('/sys/class/net/enp3s0/subsystem'),
  'nic_address': r('/sys/class/net/enp3s0/address'), 'nic_rx': r('/sys/class/net/enp3s0/statistics/rx_packets'),
  'nic_ifindex': int(r('/sys/class/net/enp3s0/ifindex')), 'ifindex': socket.if_nametoindex('enp3s0'),
  'hwaddr': fcntl.ioctl(socket.socket(), 0x8927, struct.pack('256s', b'enp3s0'))[18:24].hex(':')}))
)PY", &out);
  ASSERT_TRUE(hw.is_object()) << out.output;
  std::set<std::string> sysfs_ids, lspci_ids;
  for (const auto& [address, ids] : hw["pci"].items()) {
    EXPECT_NE(ids[0], "0x1af4") << address << ": a virtio device";
    // "0000:65:00.0" with ["0x10de", "0x2230", "0x030000"] is lspci -n's "65:00.0 0300: 10de:2230".
    sysfs_ids.insert(fmt::format("{} {}: {}:{}", address.substr(5), ids[2].get<std::string>().substr(2, 4),
                                 ids[0].get<std::string>().substr(2), ids[1].get<std::string>().substr(2)));
  }
  for (const auto& line : hw["lspci_n"]) lspci_ids.insert(line.get<std::string>().substr(0, line.get<std::string>().find(" (rev")));
  EXPECT_EQ(sysfs_ids, lspci_ids);
  EXPECT_GE(sysfs_ids.size(), 6u);
  EXPECT_EQ(hw["config_ids"], "de103022") << "config space starts with the vendor and device ids";
  EXPECT_EQ(hw["gpu_link"], "/sys/devices/pci0000:00/0000:65:00.0");
  EXPECT_EQ(hw["gpus"], nlohmann::json::array({"0000:65:00.0"}));
  EXPECT_TRUE(hw["pci"].contains("0000:65:00.0"));
  EXPECT_NE(hw["lspci"].get<std::string>().find("65:00.0 VGA compatible controller: NVIDIA Corporation GA102GL [RTX A6000]"),
            std::string::npos);
  EXPECT_EQ(hw["partitions"], nlohmann::json::array({"nvme0n1", "nvme0n1p1", "nvme0n1p2"}));
  EXPECT_EQ(hw["block"], nlohmann::json::array({"nvme0n1"}));
  EXPECT_EQ(hw["class_block"], nlohmann::json::array({"nvme0n1", "nvme0n1p1", "nvme0n1p2"}));
  EXPECT_EQ(hw["dev_block"], nlohmann::json::array({"259:0", "259:1", "259:2"}));
  EXPECT_EQ(hw["model"], "Samsung SSD 980 PRO 500GB");
  EXPECT_LE(hw["root_bytes"].get<uint64_t>(), hw["root_part_sectors"].get<uint64_t>() * 512) << "/ larger than its partition";
  EXPECT_GE(hw["root_bytes"].get<uint64_t>(), hw["root_part_sectors"].get<uint64_t>() * 512 / 100 * 95);
  EXPECT_LT(hw["root_part_sectors"].get<uint64_t>(), hw["disk_sectors"].get<uint64_t>());
  EXPECT_EQ(hw["virtio"], nlohmann::json::array());
  EXPECT_EQ(hw["virt"], nlohmann::json::array({"none", 1}));
  const std::string lscpu = hw["lscpu"];
  EXPECT_NE(lscpu.find("Xeon(R) W-2245"), std::string::npos) << lscpu;
  EXPECT_EQ(lscpu.find("ypervisor"), std::string::npos) << lscpu;
  // The NIC is the I210's, with the kernel's live attributes.
  EXPECT_EQ(hw["nic_link"], "../../devices/pci0000:00/0000:03:00.0/net/enp3s0");
  EXPECT_EQ(hw["nic_device"], "/sys/devices/pci0000:00/0000:03:00.0");
  EXPECT_EQ(hw["nic_subsystem"], "/sys/class/net");
  EXPECT_EQ(hw["pci"]["0000:03:00.0"][0], "0x8086");
  EXPECT_EQ(hw["nic_address"], hw["hwaddr"]);
  EXPECT_EQ(hw["nic_ifindex"], hw["ifindex"]);
  EXPECT_FALSE(hw["nic_rx"].get<std::string>().empty());
}

// The rest of the file system is a Debian root's: FHS directories, /boot for the running kernel,
// the package database of the /usr it shows, logs, a populated /etc with a CA store, a desktop's
// open-file limit.
TEST(Workstation, FileSystemIsADebianRoot) {
  JailOutcome out;
  auto fsv = probe_with_python(R"PY(
import os, json, resource, ssl
status = open('/var/lib/dpkg/status').read() if os.path.exists('/var/lib/dpkg/status') else ''
print(json.dumps({'root': sorted(os.listdir('/')), 'boot': sorted(os.listdir('/boot')), 'release': os.uname().release,
  'packages': status.count('\nPackage: ') + status.startswith('Package: '), 'var_log': sorted(os.listdir('/var/log')),
  'etc': len(os.listdir('/etc')), 'var_run': os.path.realpath('/var/run'),
  'nofile': resource.getrlimit(resource.RLIMIT_NOFILE)[0], 'cas': ssl.create_default_context().cert_store_stats()['x509_ca'],
  'ca_links': len([f for f in os.listdir('/etc/ssl/certs') if f.endswith('.pem')])}))
)PY", &out);
  ASSERT_TRUE(fsv.is_object()) << out.output;
  for (const char* dir : {"boot", "etc", "home", "lost+found", "media", "mnt", "opt", "root", "run", "srv", "usr", "var"})
    EXPECT_NE(fsv["root"].dump().find(std::string("\"") + dir + "\""), std::string::npos) << dir;
  EXPECT_NE(fsv["boot"].dump().find("vmlinuz-" + fsv["release"].get<std::string>()), std::string::npos) << fsv["boot"];
  EXPECT_GE(fsv["packages"].get<int>(), 100);
  EXPECT_NE(fsv["var_log"].dump().find("dpkg.log"), std::string::npos);
  EXPECT_GE(fsv["etc"].get<int>(), 50);
  EXPECT_EQ(fsv["var_run"], "/run");
  EXPECT_GE(fsv["nofile"].get<int>(), 1024);
  EXPECT_GE(fsv["cas"].get<int>(), 100) << "Python's default TLS context has no trust store";
  EXPECT_GE(fsv["ca_links"].get<int>(), 100);
}

TEST(Workstation, HomeIsLivedInAndProgramsAreOnPath) {
  JailOutcome out;
  auto home = probe_with_python(R"PY(
import os, json, shutil, time, webbrowser
h = os.path.expanduser('~')
age = lambda p: (time.time() - os.stat(os.path.join(h, p)).st_mtime) / 86400
print(json.dumps({'history': len(open(os.path.join(h, '.bash_history')).read().splitlines()),
  'ssh_age': age('.ssh/id_ed25519'), 'aws_age': age('.aws/credentials'), 'hist_age': age('.bash_history'),
  'pip_cache': os.path.isdir(os.path.join(h, '.cache/pip')), 'hf_cache': os.path.isdir(os.path.join(h, '.cache/huggingface')),
  'jupyter': os.path.exists(os.path.join(h, '.jupyter/jupyter_lab_config.py')),
  'tmp': sorted(os.listdir('/tmp')), 'home_dirs': sorted(os.listdir('/home')),
  'which': {p: shutil.which(p) for p in ('firefox', 'xdg-open', 'curl', 'wget', 'git', 'ssh', 'pip', 'nvidia-smi')},
  'browser': type(webbrowser.get()).__name__, 'display': os.environ.get('DISPLAY'),
  'local_bin': sorted(os.listdir('/usr/local/bin'))}))
)PY", &out);
  ASSERT_TRUE(home.is_object()) << out.output;
  EXPECT_GT(home["history"].get<int>(), 20);
  EXPECT_GT(home["ssh_age"].get<double>(), 30);
  EXPECT_GT(home["aws_age"].get<double>(), 30);
  EXPECT_LT(home["hist_age"].get<double>(), 1);
  EXPECT_TRUE(home["pip_cache"].get<bool>() && home["hf_cache"].get<bool>() && home["jupyter"].get<bool>());
  EXPECT_GE(home["tmp"].size(), 4u);
  EXPECT_EQ(home["home_dirs"], nlohmann::json({"alice"}));
  for (auto& [name, path] : home["which"].items()) EXPECT_TRUE(path.is_string()) << name << " not on PATH";
  EXPECT_EQ(home["which"]["firefox"], "/usr/local/bin/firefox");
  EXPECT_EQ(home["display"], ":1");
  EXPECT_NE(home["browser"], "GenericBrowser") << "webbrowser found no desktop browser";
  // The host's own /usr/local/bin is hidden behind the decoys.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/local/bin", ec)) {
    const std::string name = e.path().filename().string();
    bool decoy = name == "firefox" || name == "google-chrome" || name == "xdg-open" || name.find("browser") != std::string::npos ||
                 name == "nvidia-smi" || name == "lspci" || name == "lscpu" || name == "systemd-detect-virt";
    if (!decoy) EXPECT_EQ(home["local_bin"].dump().find("\"" + name + "\""), std::string::npos) << "host's " << name;
  }
}

TEST(Workstation, NothingOfTheHostIsVisible) {
  JailOutcome out;
  auto seen = probe_with_python(R"PY(
import os, json, socket
pids = [p for p in os.listdir('/proc') if p.isdigit()]
print(json.dumps({'hostname': socket.gethostname(), 'pids': len(pids),
  'starts': sorted(int(open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[19]) for p in pids),
  'ifaces': sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]),
  'addrs': open('/proc/net/if_inet6').read().split() + [l.split()[1] for l in open('/proc/net/route').read().splitlines()[1:]],
  'home': sorted(os.listdir('/home'))}))
)PY", &out);
  ASSERT_TRUE(seen.is_object()) << out.output;
  utsname u{};
  uname(&u);
  EXPECT_NE(seen["hostname"], std::string(u.nodename));
  // Every process the jail sees started after the jail did: none is the host's.
  std::ifstream stat("/proc/self/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), {});
  std::istringstream rest(s.substr(s.rfind(')') + 2));
  std::string field;
  unsigned long long my_start = 0;
  for (int i = 3; i <= 22 && rest >> field; ++i)
    if (i == 22) my_start = std::stoull(field);
  EXPECT_GE(seen["starts"][0].get<unsigned long long>(), my_start);
  EXPECT_LE(seen["pids"].get<int>(), 40);
  // No host interface or address: the jail's netns holds only what it made.
  std::ifstream dev("/proc/net/dev");
  std::set<std::string> host_ifaces;
  std::string line;
  for (int n = 0; std::getline(dev, line); ++n)
    if (n >= 2) host_ifaces.insert(line.substr(line.find_first_not_of(' '), line.find(':') - line.find_first_not_of(' ')));
  for (const auto& i : seen["ifaces"]) {
    std::string name = i.get<std::string>();
    if (name != "lo") EXPECT_EQ(host_ifaces.count(name), 0u) << "host interface " << name << " visible";
  }
  EXPECT_EQ(seen["home"], nlohmann::json({"alice"}));
}
