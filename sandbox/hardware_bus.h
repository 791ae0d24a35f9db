#pragma once
// The workstation's buses as sysfs and /proc show them: the PCI devices of a Precision tower
// (Intel chipset, an I210 NIC at 03:00.0 for enp3s0, a Samsung NVMe disk, the RTX A6000 at
// 65:00.0 that nvidia-smi and /proc/driver/nvidia name) in place of the host's virtio devices,
// and the NVMe disk with its two partitions in place of the host's vda, loop and zram devices.
// One table feeds the sysfs files and the decoy `lspci`, so they agree with each other.
// Staged on the host (write_hardware_bus), mounted read-only in the jail by rootfs.cpp.
#include <string>
#include <vector>

namespace modelvet::sandbox {

// Under the staging dir (relative), each mounted read-only over the path after the arrow.
inline constexpr const char* kStagedPciDevices = "machine/pci-devices";  // → /sys/devices/pci0000:00
inline constexpr const char* kStagedPciLinks = "machine/pci-links";      // → /sys/bus/pci/devices
inline constexpr const char* kStagedBlockLinks = "machine/block-links";  // → /sys/block
inline constexpr const char* kStagedDevBlock = "machine/dev-block";      // → /sys/dev/block
inline constexpr const char* kStagedPartitions = "machine/partitions";   // → /proc/partitions
inline constexpr const char* kStagedDiskstats = "machine/diskstats";     // → /proc/diskstats

// The jail's NIC (fake_net.h's enp3s0) sits on the PCI bus at this address, as its name says.
inline constexpr const char* kNicPciAddress = "0000:03:00.0";

// Writes the files above under staging_dir. Throws on a write failure.
void write_hardware_bus(const std::string& staging_dir);

// /sys/class entries that name the host's hardware and are replaced by the workstation's.
inline const std::vector<std::string> kReplacedDeviceClasses = {"block", "nvme"};
struct ClassLink {
  std::string path;    // under /sys/class: "block/nvme0n1"
  std::string target;  // relative, as the kernel writes it
};
std::vector<ClassLink> workstation_class_links();

// The body of the decoy `lspci` (a /bin/sh script): the same devices, in lspci's formats.
std::string lspci_script();

}  // namespace modelvet::sandbox
