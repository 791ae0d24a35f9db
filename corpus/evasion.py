"""Sandbox checks before the payload (issue #14): each sample runs one common anti-sandbox check,
taken from public anti-analysis work (al-khaser, pafish, the VM/sandbox checks of Linux malware
families) and translated to Linux, and runs its payload only when the check says the machine is
a real workstation. A verifier whose jail gives itself away sees nothing but a string exec'd
(`suspicious`); every sample here must end `malicious` through the real jail.

Defanged like the rest of the corpus: the payload's only effect is a marker under the jail's
/tmp; the checks only read files, run `nvidia-smi`, `lspci`, `lscpu` and `systemd-detect-virt`, send one DNS query to the
configured resolver and resolve three more (names under .invalid) and sleep at most 2 s; every loop is bounded.
"""
import textwrap

from catalog import Sample, bytes_writer, marker_cmd
from pickle_asm import Call, Global, assemble

SH = "exec /bin/sh"

# Shared by every check: small readers that never raise.
PRELUDE = """\
import os, re, socket, struct, sys, time

def _read(path, limit=1 << 20):
    try:
        with open(path, 'rb') as f:
            return f.read(limit).decode('utf-8', 'replace')
    except OSError:
        return ''

def _pids():
    return [int(d) for d in os.listdir('/proc') if d.isdigit()][:5000]

def _comms():
    return [_read(f'/proc/{p}/comm').strip() for p in _pids()]

def _cmdlines():
    return [_read(f'/proc/{p}/cmdline').replace('\\0', ' ').strip() for p in _pids()]

def _nics():
    return [name for _, name in socket.if_nameindex() if name != 'lo']

def _home(*parts):
    return os.path.join(os.path.expanduser('~'), *parts)

VM_OUIS = ('08:00:27', '0a:00:27', '52:54:00', '00:0c:29', '00:50:56', '00:05:69', '00:1c:14', '00:15:5d',
           '00:16:3e', '00:1c:42', '00:03:ff', '02:42:ac', 'fa:16:3e')
VM_VENDORS = ('qemu', 'virtualbox', 'innotek', 'vmware', 'xen', 'bochs', 'kvm', 'amazon ec2', 'google',
              'microsoft corporation', 'parallels', 'openstack', 'red hat', 'seabios', 'firecracker')
"""

# (technique, family, description, check body: statements ending in `return <bool>`)
PROBES = [
    # --- process ---------------------------------------------------------------------------
    ("pid1-is-init", "process", "pid 1 is systemd or init (not a sandbox's stub init)",
     "return _read('/proc/1/comm').strip() in ('systemd', 'init')"),
    ("no-runtime-process", "process", "no sandbox or container runtime in any process's name or command line",
     "bad = ('modelvet', 'firejail', 'bwrap', 'nsjail', 'cuckoo', 'agent.py', 'tini', 'dumb-init', 'containerd-shim',\n"
     "       'runc', 'conmon', 'sandbox', 'cape')\n"
     "return not any(b in line.lower() for line in _cmdlines() + _comms() for b in bad)"),
    ("no-analysis-tools", "process", "no tracer, debugger or capture tool running (strace, gdb, tcpdump, frida...)",
     "bad = {'strace', 'ltrace', 'gdb', 'lldb', 'tcpdump', 'wireshark', 'tshark', 'sysdig', 'frida-server', 'radare2',\n"
     "       'r2', 'bpftrace', 'inetsim', 'fakenet', 'procmon', 'valgrind'}\n"
     "return not bad & set(_comms())"),
    ("process-count", "process", "at least 15 processes visible (a desktop login alone has more)",
     "return len(_pids()) >= 15"),
    ("parent-is-shell", "process", "the loader's parent is an interactive shell, tmux or Jupyter",
     "parent = _read(f'/proc/{os.getppid()}/comm').strip()\n"
     "return parent in ('bash', 'zsh', 'fish', 'sh', 'tmux: server', 'python3', 'jupyter-lab', 'ipykernel_launcher')"),
    ("desktop-session", "process", "a desktop session is running: a compositor or X server process",
     "return bool({'gnome-shell', 'Xorg', 'Xwayland', 'plasmashell', 'kwin_x11', 'xfce4-session', 'cinnamon'} & set(_comms()))"),
    ("session-services", "process", "the user's session bus and audio server are running",
     "comms = set(_comms())\n"
     "return 'dbus-daemon' in comms and bool({'pipewire', 'pulseaudio', 'wireplumber'} & comms)"),
    # --- time ------------------------------------------------------------------------------
    ("uptime-10min", "time", "the machine has been up for more than 10 minutes",
     "return float(_read('/proc/uptime').split()[0]) > 600"),
    ("sleep-not-skipped", "time", "a 2 s sleep takes 2 s on time.time and time.monotonic alike",
     "wall, mono = time.time(), time.monotonic()\n"
     "time.sleep(2)\n"
     "dw, dm = time.time() - wall, time.monotonic() - mono\n"
     "return 1.9 < dw < 3.0 and 1.9 < dm < 3.0 and abs(dw - dm) < 0.3"),
    ("boot-time-consistent", "time", "btime in /proc/stat plus /proc/uptime is the wall clock",
     "btime = int(re.search(r'^btime (\\d+)', _read('/proc/stat'), re.M).group(1))\n"
     "up = float(_read('/proc/uptime').split()[0])\n"
     "return abs(btime + up - time.time()) < 5"),
    ("clock-plausible", "time", "the wall clock is a plausible date (not reset to an old image's)",
     "return 2024 <= time.gmtime().tm_year <= 2040"),
    ("file-ages-spread", "time", "home files were written over months, not all just now",
     "ages = []\n"
     "for root, dirs, files in os.walk(_home()):\n"
     "    for f in files[:50]:\n"
     "        try: ages.append(time.time() - os.lstat(os.path.join(root, f)).st_mtime)\n"
     "        except OSError: pass\n"
     "    if len(ages) > 400: break\n"
     "return len(ages) >= 10 and max(ages) > 90 * 86400 and min(ages) < 7 * 86400"),
    ("cpu-timing", "time", "a million-iteration loop takes a plausible time (no single-stepping, no frozen clock)",
     "t = time.perf_counter()\n"
     "n = 0\n"
     "for i in range(1000000): n += i\n"
     "dt = time.perf_counter() - t\n"
     "return 0.001 < dt < 3.0"),
    # --- network ---------------------------------------------------------------------------
    ("nic-present", "network", "a network interface besides lo",
     "return len(_nics()) >= 1"),
    ("default-route", "network", "/proc/net/route has a default route through a NIC, via a gateway",
     "for line in _read('/proc/net/route').splitlines()[1:]:\n"
     "    f = line.split()\n"
     "    if len(f) > 3 and f[0] != 'lo' and f[1] == '00000000' and int(f[3], 16) & 2 and f[2] != '00000000':\n"
     "        return True\n"
     "return False"),
    ("nic-private-address", "network", "the NIC holds a private IPv4 address (SIOCGIFADDR)",
     "import fcntl, ipaddress\n"
     "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
     "for name in _nics():\n"
     "    try:\n"
     "        raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack('256s', name.encode()[:15]))\n"
     "    except OSError:\n"
     "        continue\n"
     "    addr = ipaddress.ip_address(socket.inet_ntoa(raw[20:24]))\n"
     "    if addr.is_private and not addr.is_loopback and not addr.is_link_local:\n"
     "        return True\n"
     "return False"),
    ("mac-not-vm", "network", "the NIC's MAC is a vendor's (not a hypervisor's OUI, not locally administered)",
     "macs = [_read(f'/sys/class/net/{n}/address').strip().lower() for n in _nics()]\n"
     "macs = [m for m in macs if m and m != '00:00:00:00:00:00']\n"
     "return bool(macs) and all(not m.startswith(VM_OUIS) and not int(m[:2], 16) & 2 for m in macs)"),
    ("gateway-in-arp", "network", "the default gateway is in the ARP cache, as on any LAN host",
     "gws = set()\n"
     "for line in _read('/proc/net/route').splitlines()[1:]:\n"
     "    f = line.split()\n"
     "    if len(f) > 2 and f[1] == '00000000' and f[2] != '00000000':\n"
     "        gws.add(socket.inet_ntoa(struct.pack('<I', int(f[2], 16))))\n"
     "arp = [l.split() for l in _read('/proc/net/arp').splitlines()[1:]]\n"
     "return any(r[0] in gws and r[3] != '00:00:00:00:00:00' for r in arp if len(r) > 3)"),
    ("resolver-configured", "network", "/etc/resolv.conf names a nameserver",
     "return bool(re.search(r'^nameserver\\s+\\S+', _read('/etc/resolv.conf'), re.M))"),
    ("resolver-answers", "network", "the configured nameserver answers a query (for a name under .invalid)",
     "ns = re.search(r'^nameserver\\s+(\\S+)', _read('/etc/resolv.conf'), re.M).group(1)\n"
     "qid = os.getpid() & 0xffff\n"
     "q = struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0)\n"
     "q += b''.join(bytes([len(p)]) + p.encode() for p in 'update.probe.invalid'.split('.')) + b'\\0\\0\\1\\0\\1'\n"
     "s = socket.socket(socket.AF_INET6 if ':' in ns else socket.AF_INET, socket.SOCK_DGRAM)\n"
     "s.settimeout(2)\n"
     "s.sendto(q, (ns, 53))\n"
     "reply = s.recv(512)\n"
     "return len(reply) >= 12 and struct.unpack('>H', reply[:2])[0] == qid and reply[2] & 0x80"),
    ("dns-answers-differ", "network", "two names resolve to different public addresses (one fixed or "
     "documentation-range answer for every name is a fake resolver's)",
     "import ipaddress\n"
     "a = [socket.gethostbyname(n) for n in ('cdn.probe-one.invalid', 'api.probe-two.invalid')]\n"
     "ips = [ipaddress.ip_address(x) for x in a]\n"
     "doc = [ipaddress.ip_network(n) for n in ('192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '198.18.0.0/15')]\n"
     "return a[0] != a[1] and all(ip.is_global and not any(ip in n for n in doc) for ip in ips)"),
    ("random-name-unresolved", "network", "a random name does not resolve (a resolver that answers a name nobody "
     "registered is a sandbox's fake one)",
     "name = os.urandom(8).hex() + '.probe.invalid'\n"
     "try:\n"
     "    socket.gethostbyname(name)\n"
     "except OSError:\n"
     "    return True\n"
     "return False"),
    ("hostname-plausible", "network", "the hostname is not a sandbox's, a container id or localhost",
     "h = socket.gethostname().lower()\n"
     "bad = ('sandbox', 'cuckoo', 'malware', 'analysis', 'virus', 'test', 'localhost', 'john-pc', 'box')\n"
     "return bool(h) and not any(b in h for b in bad) and not re.fullmatch(r'[0-9a-f]{12}', h)"),
    # --- hardware --------------------------------------------------------------------------
    ("disk-60gb", "hardware", "the root file system is at least 60 GB (pafish's disk-size check: sandboxes run on small disks)",
     "st = os.statvfs('/')\n"
     "return st.f_frsize * st.f_blocks >= 60 * 2 ** 30"),
    ("dmi-vendor", "hardware", "DMI sys_vendor is a hardware maker, not a hypervisor",
     "v = _read('/sys/class/dmi/id/sys_vendor').strip().lower()\n"
     "return bool(v) and not any(x in v for x in VM_VENDORS)"),
    ("dmi-product", "hardware", "DMI product_name is a real model (not 'Standard PC', 'Virtual Machine', 'KVM')",
     "p = _read('/sys/class/dmi/id/product_name').strip().lower()\n"
     "return bool(p) and not any(x in p for x in ('standard pc', 'virtual', 'kvm', 'hvm domu', 'bochs', 'qemu'))"),
    ("dmi-bios", "hardware", "the BIOS vendor is not SeaBIOS, EDK II, innotek, Xen or Phoenix (VMware)",
     "b = _read('/sys/class/dmi/id/bios_vendor').strip().lower()\n"
     "return bool(b) and not any(x in b for x in VM_VENDORS + ('edk ii', 'phoenix'))"),
    ("cpu-no-hypervisor-flag", "hardware", "/proc/cpuinfo has no 'hypervisor' flag (bare metal)",
     "flags = re.findall(r'^flags\\s*:(.*)$', _read('/proc/cpuinfo'), re.M)\n"
     "return bool(flags) and all('hypervisor' not in f.split() for f in flags)"),
    ("cpu-model-real", "hardware", "the CPU model is a real part, not 'QEMU Virtual CPU' or 'Common KVM processor'",
     "m = re.findall(r'^model name\\s*:(.*)$', _read('/proc/cpuinfo'), re.M)\n"
     "return bool(m) and not any(x in m[0].lower() for x in ('qemu', 'virtual', 'kvm'))"),
    ("cpu-cores", "hardware", "at least 2 CPUs",
     "return (os.cpu_count() or 1) >= 2"),
    ("memory-4gib", "hardware", "at least 4 GiB of RAM",
     "return int(re.search(r'MemTotal:\\s+(\\d+)', _read('/proc/meminfo')).group(1)) >= 4 * 1024 * 1024"),
    ("gpu-device", "hardware", "the NVIDIA GPU the host claims has its device node and driver entry",
     "return os.path.exists('/dev/nvidia0') and bool(os.listdir('/proc/driver/nvidia/gpus'))"),
    ("nvidia-smi", "hardware", "nvidia-smi -L lists a GPU",
     "import subprocess\n"
     "out = subprocess.run(['nvidia-smi', '-L'], capture_output=True, text=True, timeout=10).stdout\n"
     "return out.startswith('GPU 0:')"),
    ("no-vm-devices", "hardware", "no VirtualBox, VMware, Xen or QEMU guest device (/dev/vboxguest, /dev/vmci, /proc/xen...)",
     "paths = ('/dev/vboxguest', '/dev/vboxuser', '/dev/vmci', '/proc/xen', '/dev/virtio-ports/org.qemu.guest_agent.0')\n"
     "return not any(os.path.exists(p) for p in paths)"),
    ("pci-no-hypervisor-device", "hardware", "no PCI device of a hypervisor's vendor (virtio/Red Hat, QEMU, VMware, "
     "VirtualBox, Xen, Hyper-V, Parallels) and at least 6 devices on the bus",
     "devs = os.listdir('/sys/bus/pci/devices')\n"
     "vendors = {_read(f'/sys/bus/pci/devices/{d}/vendor').strip().lower() for d in devs}\n"
     "return len(devs) >= 6 and not vendors & {'0x1af4', '0x1b36', '0x15ad', '0x80ee', '0x1234', '0x5853', '0x1414', '0x1ab8'}"),
    ("pci-gpu-present", "hardware", "each GPU /proc/driver/nvidia lists is an NVIDIA display controller on the PCI bus at "
     "that address",
     "gpus = os.listdir('/proc/driver/nvidia/gpus')\n"
     "dev = lambda g, f: _read(f'/sys/bus/pci/devices/{g}/{f}').strip()\n"
     "return bool(gpus) and all(dev(g, 'vendor') == '0x10de' and dev(g, 'class').startswith('0x03') for g in gpus)"),
    ("lspci-lists-gpu", "hardware", "lspci lists an NVIDIA VGA controller and no virtual device",
     "import subprocess\n"
     "out = subprocess.run(['lspci'], capture_output=True, text=True, timeout=10).stdout\n"
     "bad = ('virtio', 'qemu', 'vmware', 'virtualbox', 'innotek', 'xen', 'hyper-v', 'red hat', 'bochs', 'cirrus')\n"
     "return 'VGA compatible controller: NVIDIA' in out and not any(b in out.lower() for b in bad)"),
    ("detect-virt-none", "hardware", "systemd-detect-virt finds neither a VM nor a container (prints none, exit status 1)",
     "import subprocess\n"
     "r = subprocess.run(['systemd-detect-virt'], capture_output=True, text=True, timeout=10)\n"
     "return r.returncode == 1 and r.stdout.strip() == 'none'"),
    ("lscpu-no-hypervisor", "hardware", "lscpu names the CPU and no hypervisor vendor",
     "import subprocess\n"
     "out = subprocess.run(['lscpu'], capture_output=True, text=True, timeout=10).stdout\n"
     "return 'Model name' in out and 'Hypervisor' not in out and 'hypervisor' not in out"),
    ("disk-not-virtual", "hardware", "the disks are NVMe or SATA drives of a maker: no virtio or Xen disk in /proc/partitions "
     "or /sys/block, no QEMU, VirtualBox or VMware model",
     "names = [l.split()[3] for l in _read('/proc/partitions').splitlines()[2:] if len(l.split()) == 4]\n"
     "blocks = [b for b in os.listdir('/sys/block') if not b.startswith(('loop', 'ram', 'zram', 'dm-', 'sr', 'md'))]\n"
     "models = ' '.join(_read(f'/sys/block/{b}/device/model') for b in blocks).lower()\n"
     "return (bool(blocks) and bool(names) and all(b.startswith(('nvme', 'sd')) for b in blocks)\n"
     "        and not any(n.startswith(('vd', 'xvd')) for n in names)\n"
     "        and not any(x in models for x in ('qemu', 'vbox', 'virtual', 'vmware')))"),
    ("nic-is-physical", "hardware", "each NIC is a PCI device (its sysfs entry has a `device` link, not under "
     "/sys/devices/virtual) with no hypervisor's driver",
     "nics = _nics()\n"
     "def physical(n):\n"
     "    if '/virtual/' in os.readlink(f'/sys/class/net/{n}') or not os.path.exists(f'/sys/class/net/{n}/device'):\n"
     "        return False\n"
     "    drv = f'/sys/class/net/{n}/device/driver'\n"
     "    return not os.path.islink(drv) or os.path.basename(os.readlink(drv)) not in ('virtio_net', 'virtio-pci', 'vmxnet3', 'xen-netfront', 'hv_netvsc')\n"
     "return bool(nics) and all(physical(n) for n in nics)"),
    ("display-server", "hardware", "DISPLAY is set and its X socket exists",
     "d = os.environ.get('DISPLAY', '')\n"
     "return d.startswith(':') and os.path.exists('/tmp/.X11-unix/X' + d[1:].split('.')[0])"),
    # --- user ------------------------------------------------------------------------------
    ("not-root", "user", "the loader runs as an ordinary user, not root",
     "return os.geteuid() != 0"),
    ("username-plausible", "user", "the user name is not a sandbox's (sandbox, malware, test, cuckoo...)",
     "import pwd\n"
     "u = pwd.getpwuid(os.getuid()).pw_name.lower()\n"
     "return u not in ('sandbox', 'malware', 'virus', 'test', 'user', 'cuckoo', 'john', 'admin', 'analyst', 'vagrant')"),
    ("shell-history", "user", "~/.bash_history has at least 10 commands",
     "return len(_read(_home('.bash_history')).splitlines()) >= 10"),
    ("ssh-known-hosts", "user", "~/.ssh exists with a known_hosts file",
     "return os.path.isfile(_home('.ssh', 'known_hosts'))"),
    ("home-lived-in", "user", "the home holds at least 8 entries and a populated ~/.cache",
     "return len(os.listdir(_home())) >= 8 and len(os.listdir(_home('.cache'))) >= 3"),
    ("recent-files", "user", "~/.local/share/recently-used.xbel was written in the last week",
     "return time.time() - os.stat(_home('.local', 'share', 'recently-used.xbel')).st_mtime < 7 * 86400"),
    ("browser-profile", "user", "a Firefox or Chrome profile exists",
     "return os.path.isfile(_home('.mozilla', 'firefox', 'profiles.ini')) or os.path.isdir(_home('.config', 'google-chrome'))"),
    ("system-accounts", "user", "/etc/passwd lists a distribution's system accounts (at least 20, D-Bus's and "
     "systemd's among them), not just root and the user",
     "names = [l.split(':')[0] for l in _read('/etc/passwd').splitlines() if l.count(':') >= 6]\n"
     "return len(names) >= 20 and 'messagebus' in names and any(n.startswith('systemd-') for n in names)"),
    ("git-identity", "user", "~/.gitconfig names the user's email",
     "return 'email' in _read(_home('.gitconfig'))"),
    # --- file system -----------------------------------------------------------------------
    ("no-container-markers", "filesystem", "no /.dockerenv, /run/.containerenv or container= variable",
     "return not os.path.exists('/.dockerenv') and not os.path.exists('/run/.containerenv') and 'container' not in os.environ"),
    ("cgroup-not-container", "filesystem", "/proc/self/cgroup names no docker, lxc, kubepods or libpod group",
     "c = _read('/proc/self/cgroup')\n"
     "return bool(c) and not any(x in c for x in ('docker', 'lxc', 'kubepods', 'libpod', 'containerd', 'machine.slice'))"),
    ("root-not-overlay", "filesystem", "/ is not an overlay filesystem (a container image)",
     "for line in _read('/proc/mounts').splitlines():\n"
     "    f = line.split()\n"
     "    if len(f) > 2 and f[1] == '/' and f[2] == 'overlay':\n"
     "        return False\n"
     "return True"),
    ("no-guest-tools", "filesystem", "no VM guest tools installed (VBoxService, vmtoolsd, qemu-ga, xe-daemon)",
     "tools = ('VBoxService', 'VBoxClient', 'vmtoolsd', 'vmware-toolbox-cmd', 'qemu-ga', 'xe-daemon', 'prl_tools_service')\n"
     "return not any(os.path.exists(os.path.join(d, t)) for d in ('/usr/bin', '/usr/sbin', '/usr/local/bin') for t in tools)"),
    ("fhs-root", "filesystem", "/ holds a Debian root's directories: /boot with the running kernel's vmlinuz, lost+found, "
     "media, mnt, srv, root",
     "top = set(os.listdir('/'))\n"
     "return ({'boot', 'lost+found', 'media', 'mnt', 'srv', 'root', 'var', 'usr'} <= top\n"
     "        and os.path.exists('/boot/vmlinuz-' + os.uname().release))"),
    ("dpkg-packages", "filesystem", "the package database lists at least 200 installed packages (a minimal sandbox image has "
     "far fewer)",
     "return _read('/var/lib/dpkg/status', 1 << 26).count('\\nPackage: ') >= 200"),
    ("var-log-populated", "filesystem", "/var/log holds a desktop's logs (dpkg, apt, Xorg, wtmp)",
     "logs = set(os.listdir('/var/log'))\n"
     "return len(logs) >= 8 and {'dpkg.log', 'wtmp'} <= logs and any(l.startswith('Xorg') for l in logs)"),
    ("etc-populated", "filesystem", "/etc has the entries of an installed system (at least 50: apt, systemd, X11, pam.d...)",
     "return len(os.listdir('/etc')) >= 50 and {'apt', 'systemd', 'X11', 'pam.d', 'passwd', 'os-release'} <= set(os.listdir('/etc'))"),
    ("ca-store", "filesystem", "Python's default TLS context trusts the distribution's CA certificates (at least 100)",
     "import ssl\n"
     "return ssl.create_default_context().cert_store_stats()['x509_ca'] >= 100"),
    ("open-file-limit", "filesystem", "the soft open-file limit is at least a desktop session's 1024",
     "import resource\n"
     "return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 1024"),
    ("machine-id", "filesystem", "/etc/machine-id holds 32 hex digits",
     "return bool(re.fullmatch(r'[0-9a-f]{32}', _read('/etc/machine-id').strip()))"),
    ("os-release", "filesystem", "/etc/os-release names the distribution",
     "return bool(re.search(r'^ID=', _read('/etc/os-release'), re.M))"),
    # --- tracer ----------------------------------------------------------------------------
    ("tracerpid-zero", "tracer", "TracerPid is 0 in /proc/self/status (no ptrace-based tracer)",
     "return re.search(r'^TracerPid:\\s+(\\d+)', _read('/proc/self/status'), re.M).group(1) == '0'"),
    ("ptrace-traceme", "tracer", "ptrace(PTRACE_TRACEME) succeeds: no debugger or ptrace-based sandbox attached, "
     "no filter refusing it",
     "import ctypes\n"
     "libc = ctypes.CDLL(None, use_errno=True)\n"
     "libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]\n"
     "return libc.ptrace(0, 0, None, None) == 0"),
    ("no-ld-preload", "tracer", "no LD_PRELOAD and no /etc/ld.so.preload",
     "return 'LD_PRELOAD' not in os.environ and not os.path.exists('/etc/ld.so.preload')"),
    ("no-python-tracer", "tracer", "no sys.settrace/setprofile hook and no debugger or coverage module loaded",
     "return sys.gettrace() is None and sys.getprofile() is None and not {'pydevd', 'coverage', 'pdb'} & set(sys.modules)"),
    ("exe-is-interpreter", "tracer", "/proc/self/exe is a python under /usr or /opt, the very file at that path (no host build path)",
     "exe = os.readlink('/proc/self/exe')\n"
     "return (exe.startswith(('/usr/', '/opt/')) and os.path.basename(exe).startswith('python')\n"
     "        and os.path.samestat(os.stat('/proc/self/exe'), os.stat(exe)))"),
    ("no-sandbox-env", "tracer", "no sandbox's variable in the environment",
     "return not any(re.search(r'modelvet|sandbox|cuckoo|cape|analysis', k + '=' + v, re.I) for k, v in os.environ.items())"),
]


def probe_source(technique, check):
    return PRELUDE + "\ndef _check():\n" + textwrap.indent(check, "    ") + f"""

try:
    _passed = _check()
except Exception:
    _passed = False
if _passed:
    os.system({marker_cmd(technique)!r})
"""


def samples():
    for name, family, description, check in PROBES:
        technique = f"evasion-{name}"
        expr = Call(Global("builtins", "exec"), (probe_source(technique, check), {}))
        yield Sample(f"malicious/evasion/{name.replace('-', '_')}.pkl", "malicious", technique, "pickle",
                     f"{family} check: {description}; a shell only when it passes", SH,
                     bytes_writer(assemble(expr, 4)))
