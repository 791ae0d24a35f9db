// The workstation's PCI devices and disk (see hardware_bus.h).
#include "sandbox/hardware_bus.h"

#include <cstdint>
#include <filesystem>
#include <string_view>

#include <fmt/core.h>

#include "sandbox/staged_file.h"

namespace modelvet::sandbox {
namespace fs = std::filesystem;
namespace {

struct PciDevice {
  const char* slot;  // bus:device.function in domain 0000
  uint16_t vendor, device;
  uint32_t class_code;  // base class, subclass, programming interface
  uint16_t subsystem_vendor, subsystem_device;
  uint8_t revision;
  uint8_t header_type;  // 0 an endpoint, 1 a bridge; bit 7 a multi-function device
  int irq;
  // As lspci names them from pci.ids.
  const char* class_name;
  const char* vendor_name;
  const char* device_name;
  const char* subsystem_vendor_name;
  const char* subsystem_device_name;
  const char* driver;   // "" when no driver is bound
  const char* modules;
};

// A Precision tower: Dell's subsystem id is the DMI product SKU (073A).
constexpr PciDevice kPci[] = {
    {"00:00.0", 0x8086, 0x2020, 0x060000, 0x1028, 0x073a, 0x04, 0x00, 0, "Host bridge", "Intel Corporation",
     "Sky Lake-E DMI3 Registers", "Dell", "Device 073a", "", ""},
    {"00:14.0", 0x8086, 0xa1af, 0x0c0330, 0x1028, 0x073a, 0x09, 0x80, 31, "USB controller", "Intel Corporation",
     "C620 Series Chipset Family USB 3.0 xHCI Controller", "Dell", "Device 073a", "xhci_hcd", "xhci_pci"},
    {"00:16.0", 0x8086, 0xa1ba, 0x078000, 0x1028, 0x073a, 0x09, 0x80, 142, "Communication controller",
     "Intel Corporation", "C620 Series Chipset Family MEI Controller #1", "Dell", "Device 073a", "mei_me", "mei_me"},
    {"00:17.0", 0x8086, 0xa182, 0x010601, 0x1028, 0x073a, 0x09, 0x00, 136, "SATA controller", "Intel Corporation",
     "C620 Series Chipset Family SATA Controller [AHCI mode]", "Dell", "Device 073a", "ahci", "ahci"},
    {"00:1c.0", 0x8086, 0xa190, 0x060400, 0x1028, 0x073a, 0xf9, 0x81, 24, "PCI bridge", "Intel Corporation",
     "C620 Series Chipset Family PCI Express Root Port #1", "Dell", "Device 073a", "pcieport", ""},
    {"00:1f.0", 0x8086, 0xa1c1, 0x060100, 0x1028, 0x073a, 0x09, 0x80, 0, "ISA bridge", "Intel Corporation",
     "C621 Series Chipset LPC/eSPI Controller", "Dell", "Device 073a", "", ""},
    {"00:1f.3", 0x8086, 0xa1f0, 0x040300, 0x1028, 0x073a, 0x09, 0x00, 143, "Audio device", "Intel Corporation",
     "C620 Series Chipset Family HD Audio", "Dell", "Device 073a", "snd_hda_intel", "snd_hda_intel"},
    {"00:1f.4", 0x8086, 0xa1a3, 0x0c0500, 0x1028, 0x073a, 0x09, 0x00, 16, "SMBus", "Intel Corporation",
     "C620 Series Chipset Family SMBus", "Dell", "Device 073a", "i801_smbus", "i2c_i801"},
    {"03:00.0", 0x8086, 0x1533, 0x020000, 0x1028, 0x073a, 0x03, 0x00, 17, "Ethernet controller", "Intel Corporation",
     "I210 Gigabit Network Connection", "Dell", "Device 073a", "igb", "igb"},
    {"04:00.0", 0x144d, 0xa80a, 0x010802, 0x144d, 0xa801, 0x00, 0x00, 16, "Non-Volatile memory controller",
     "Samsung Electronics Co Ltd", "NVMe SSD Controller PM9A1/PM9A3/980PRO", "Samsung Electronics Co Ltd",
     "SSD 980 PRO", "nvme", "nvme"},
    {"65:00.0", 0x10de, 0x2230, 0x030000, 0x10de, 0x1459, 0xa1, 0x80, 156, "VGA compatible controller",
     "NVIDIA Corporation", "GA102GL [RTX A6000]", "NVIDIA Corporation", "GA102GL [RTX A6000]", "nvidia",
     "nouveau, nvidia_drm, nvidia"},
    {"65:00.1", 0x10de, 0x1aef, 0x040300, 0x10de, 0x1459, 0xa1, 0x80, 157, "Audio device", "NVIDIA Corporation",
     "GA102 High Definition Audio Controller", "NVIDIA Corporation", "Device 1459", "snd_hda_intel", "snd_hda_intel"},
};

// The NVMe disk: a 500 GB 980 PRO with an EFI partition and the root file system (rootfs.cpp
// sizes the jail's root, as statvfs shows it, to fit the second).
constexpr const char* kNvmeDir = "0000:04:00.0/nvme/nvme0";  // under /sys/devices/pci0000:00
constexpr uint64_t kDiskSectors = 976773168;
struct Partition {
  int number;
  uint64_t start, sectors;
  const char* io;  // its /proc/diskstats counters after the name
};
constexpr Partition kPartitions[] = {
    {1, 2048, 1048576, "1200 0 9600 210 2 0 16 1 0 300 400 0 0 0 0 0 0"},  // EFI: read at boot
    {2, 1050624, 975720448, "1831200 0 126609600 298210 5123002 0 281234016 6123001 0 4320300 6789400 0 0 0 0 0 0"},
};
constexpr int kNvmeMajor = 259;  // blkext: NVMe namespaces and their partitions

std::string hex16(uint16_t v) { return fmt::format("0x{:04x}\n", v); }

std::string modalias(const PciDevice& d) {
  return fmt::format("pci:v{:08X}d{:08X}sv{:08X}sd{:08X}bc{:02X}sc{:02X}i{:02X}", d.vendor, d.device,
                     d.subsystem_vendor, d.subsystem_device, d.class_code >> 16, (d.class_code >> 8) & 0xff,
                     d.class_code & 0xff);
}

// The first 256 bytes of configuration space, as an unprivileged reader of sysfs's `config` gets them.
std::string config_space(const PciDevice& d) {
  std::string c(256, '\0');
  auto put16 = [&](size_t at, uint16_t v) { c[at] = char(v & 0xff), c[at + 1] = char(v >> 8); };
  put16(0x00, d.vendor);
  put16(0x02, d.device);
  put16(0x04, 0x0406);  // memory space, bus master, INTx disabled
  put16(0x06, 0x0010);  // a capability list
  c[0x08] = char(d.revision);
  c[0x09] = char(d.class_code & 0xff);
  c[0x0a] = char((d.class_code >> 8) & 0xff);
  c[0x0b] = char(d.class_code >> 16);
  c[0x0e] = char(d.header_type);
  if ((d.header_type & 0x7f) == 1) {
    c[0x19] = 0x03, c[0x1a] = 0x03;  // the root port's secondary and subordinate bus: the NIC's
  } else {
    put16(0x2c, d.subsystem_vendor);
    put16(0x2e, d.subsystem_device);
  }
  c[0x34] = char(0x40);
  c[0x3c] = char(d.irq & 0xff);
  c[0x3d] = d.irq ? 1 : 0;
  return c;
}

void write_pci_device(const fs::path& dir, const PciDevice& d) {
  const std::string address = fmt::format("0000:{}", d.slot);
  write_staged_file(dir / "vendor", hex16(d.vendor));
  write_staged_file(dir / "device", hex16(d.device));
  write_staged_file(dir / "subsystem_vendor", hex16(d.subsystem_vendor));
  write_staged_file(dir / "subsystem_device", hex16(d.subsystem_device));
  write_staged_file(dir / "class", fmt::format("0x{:06x}\n", d.class_code));
  write_staged_file(dir / "revision", fmt::format("0x{:02x}\n", d.revision));
  write_staged_file(dir / "irq", fmt::format("{}\n", d.irq));
  write_staged_file(dir / "numa_node", "0\n");
  write_staged_file(dir / "enable", "1\n");
  write_staged_file(dir / "modalias", modalias(d) + "\n");
  write_staged_file(dir / "config", config_space(d), fs::perms(0644));
  std::string uevent = *d.driver ? fmt::format("DRIVER={}\n", d.driver) : std::string();
  uevent += fmt::format("PCI_CLASS={:X}\nPCI_ID={:04X}:{:04X}\nPCI_SUBSYS_ID={:04X}:{:04X}\nPCI_SLOT_NAME={}\nMODALIAS={}\n",
                        d.class_code, d.vendor, d.device, d.subsystem_vendor, d.subsystem_device, address, modalias(d));
  write_staged_file(dir / "uevent", uevent, fs::perms(0644));
  if (*d.driver) write_staged_link(dir / "driver", fmt::format("../../../bus/pci/drivers/{}", d.driver));
  write_staged_link(dir / "subsystem", "../../../bus/pci");
}

void write_nvme_disk(const fs::path& pci_devices, const fs::path& machine) {
  const fs::path ctrl = pci_devices / kNvmeDir;
  const std::string serial = "S5GXNX0T" + random_chars(6, "0123456789ABCDEFGHJKLMNPRSTVWXYZ");
  write_staged_file(ctrl / "model", fmt::format("{:<40}\n", "Samsung SSD 980 PRO 500GB"));
  write_staged_file(ctrl / "serial", fmt::format("{:<20}\n", serial));
  write_staged_file(ctrl / "firmware_rev", "5B2QGXA7\n");
  write_staged_file(ctrl / "state", "live\n");
  const fs::path disk = ctrl / "nvme0n1";
  write_staged_file(disk / "size", fmt::format("{}\n", kDiskSectors));
  write_staged_file(disk / "dev", fmt::format("{}:0\n", kNvmeMajor));
  write_staged_file(disk / "ro", "0\n");
  write_staged_file(disk / "removable", "0\n");
  write_staged_file(disk / "queue/rotational", "0\n");
  write_staged_file(disk / "queue/logical_block_size", "512\n");
  write_staged_file(disk / "queue/physical_block_size", "512\n");
  write_staged_link(disk / "device", "../../nvme0");

  const std::string disk_target = std::string("devices/pci0000:00/") + kNvmeDir + "/nvme0n1";
  write_staged_link(machine / "block-links/nvme0n1", "../" + disk_target);
  write_staged_link(machine / "dev-block" / fmt::format("{}:0", kNvmeMajor), "../../" + disk_target);
  std::string partitions = fmt::format("major minor  #blocks  name\n\n {:4} {:7} {:10} nvme0n1\n", kNvmeMajor, 0,
                                       kDiskSectors / 2);
  // Reads, merges, sectors, ms; writes, merges, sectors, ms; in flight, io ms, weighted ms;
  // discards (4), flushes (2): a disk a few days into its uptime.
  std::string diskstats = fmt::format(" {:4} {:7} nvme0n1 1834527 517302 126647068 298664 5123451 3982347 281234568 "
                                      "6123453 0 4321569 6789012 0 0 0 0 312345 367891\n",
                                      kNvmeMajor, 0);
  for (const Partition& p : kPartitions) {
    const std::string name = fmt::format("nvme0n1p{}", p.number);
    write_staged_file(disk / name / "partition", fmt::format("{}\n", p.number));
    write_staged_file(disk / name / "start", fmt::format("{}\n", p.start));
    write_staged_file(disk / name / "size", fmt::format("{}\n", p.sectors));
    write_staged_file(disk / name / "dev", fmt::format("{}:{}\n", kNvmeMajor, p.number));
    write_staged_file(disk / name / "ro", "0\n");
    write_staged_link(machine / "dev-block" / fmt::format("{}:{}", kNvmeMajor, p.number),
                      "../../" + disk_target + "/" + name);
    partitions += fmt::format(" {:4} {:7} {:10} {}\n", kNvmeMajor, p.number, p.sectors / 2, name);
    diskstats += fmt::format(" {:4} {:7} {} {}\n", kNvmeMajor, p.number, name, p.io);
  }
  write_staged_file(machine / "partitions", partitions);
  write_staged_file(machine / "diskstats", diskstats);
}

}  // namespace

void write_hardware_bus(const std::string& staging_dir) {
  const fs::path machine = fs::path(staging_dir) / "machine";
  const fs::path devices = fs::path(staging_dir) / kStagedPciDevices;
  fs::create_directories(fs::path(staging_dir) / kStagedPciLinks);
  for (const PciDevice& d : kPci) {
    const std::string address = fmt::format("0000:{}", d.slot);
    write_pci_device(devices / address, d);
    write_staged_link(fs::path(staging_dir) / kStagedPciLinks / address, "../../../devices/pci0000:00/" + address);
  }
  write_nvme_disk(devices, machine);
}

std::vector<ClassLink> workstation_class_links() {
  const std::string ctrl = std::string("../../devices/pci0000:00/") + kNvmeDir;
  std::vector<ClassLink> links = {{"nvme/nvme0", ctrl}, {"block/nvme0n1", ctrl + "/nvme0n1"}};
  for (const Partition& p : kPartitions)
    links.push_back({fmt::format("block/nvme0n1p{}", p.number), fmt::format("{}/nvme0n1/nvme0n1p{}", ctrl, p.number)});
  return links;
}

std::string lspci_script() {
  std::string table;
  for (const PciDevice& d : kPci) {
    table += fmt::format("{}|{:04x}|{}|{:04x}|{:04x}|{}|{}|{}|{}|{}|{}|{}\n", d.slot, d.class_code >> 8,
                         d.class_name, d.vendor, d.device, d.vendor_name, d.device_name,
                         d.revision ? fmt::format("{:02x}", d.revision) : std::string(), d.subsystem_vendor_name,
                         d.subsystem_device_name, d.driver, d.modules);
  }
  // -n numbers, -nn both, -D the domain, -k/-v the subsystem and driver, -m machine-readable.
  return std::string(R"SH(n=0; m=0; D=; k=
for a in "$@"; do
  case "$a" in
    --version|-V) echo "lspci version 3.9.0"; exit 0 ;;
    --help) echo "Usage: lspci [<switches>]"; exit 0 ;;
    -*) f=${a#-}
        while [ -n "$f" ]; do
          c=${f%"${f#?}"}; f=${f#?}
          case "$c" in n) n=$((n+1)) ;; m) m=$((m+1)) ;; D) D=0000: ;; k|v) k=1 ;; esac
        done ;;
  esac
done
while IFS='|' read -r slot cls clsname ven dev vname dname rev svname sdname driver modules; do
  r=; [ -n "$rev" ] && r=" (rev $rev)"
  if [ "$m" -gt 0 ]; then
    rr=; [ -n "$rev" ] && rr=" -r$rev"
    printf '%s%s "%s" "%s" "%s"%s "%s" "%s"\n' "$D" "$slot" "$clsname" "$vname" "$dname" "$rr" "$svname" "$sdname"
  elif [ "$n" -eq 1 ]; then
    printf '%s%s %s: %s:%s%s\n' "$D" "$slot" "$cls" "$ven" "$dev" "$r"
  elif [ "$n" -ge 2 ]; then
    printf '%s%s %s [%s]: %s %s [%s:%s]%s\n' "$D" "$slot" "$clsname" "$cls" "$vname" "$dname" "$ven" "$dev" "$r"
  else
    printf '%s%s %s: %s %s%s\n' "$D" "$slot" "$clsname" "$vname" "$dname" "$r"
  fi
  if [ -n "$k" ]; then
    printf '\tSubsystem: %s %s\n' "$svname" "$sdname"
    [ -n "$driver" ] && printf '\tKernel driver in use: %s\n' "$driver"
    [ -n "$modules" ] && printf '\tKernel modules: %s\n' "$modules"
  fi
done <<'TABLE'
)SH") + table + "TABLE\nexit 0\n";
}

}  // namespace modelvet::sandbox
