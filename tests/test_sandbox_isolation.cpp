// Which isolation a jail gets, checked from inside it. This binary runs twice (tests/
// CMakeLists.txt): as root, and as an unprivileged user with MODELVET_EXPECT_ROOTLESS=1, where
// every jail must be rootless: a user namespace of its own that maps the jail user to the
// caller, no cgroup, and the fake network still answering inside the jail's netns.
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sandbox/fake_net.h"
#include "sandbox/jail.h"

namespace fs = std::filesystem;
using modelvet::sandbox::JailConfig;
using modelvet::sandbox::JailHandle;
using modelvet::sandbox::JailOutcome;
using modelvet::sandbox::NetLink;
using modelvet::sandbox::NetnsView;

namespace {

bool expect_rootless() { return std::getenv("MODELVET_EXPECT_ROOTLESS") != nullptr; }

uint64_t inode_of(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Runs Python code in a jail (after checking its netns has no route out); the last JSON line it
// printed comes back.
nlohmann::json run_in_jail(const std::string& code, JailOutcome* out) {
  const std::string model = "/tmp/modelvet-isolation-model-" + std::to_string(geteuid()) + ".pkl";
  std::ofstream(model, std::ios::binary) << std::string("\x80\x04}\x94.", 5);
  JailConfig cfg;
  cfg.model_path = model;
  cfg.exe_path = "/usr/bin/python3.11";
  cfg.harness_args = {"-I", "-c", code};
  bool isolated = false;
  *out = modelvet::sandbox::run_jail(cfg, [&](const JailHandle& h, std::string*) {
    isolated = h.netns.isolated() && h.netns.inode != inode_of("/proc/self/ns/net");
    return isolated;
  });
  EXPECT_TRUE(isolated) << "jail netns not isolated";
  EXPECT_TRUE(out->ran) << out->error;
  EXPECT_TRUE(out->clean_teardown);
  nlohmann::json last;
  std::istringstream lines(out->output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') last = nlohmann::json::parse(line, nullptr, false);
  return last;
}

}  // namespace

TEST(Isolation, RunAsTheUserThisRunExpects) {
  // A rootless run that was started as root would pass every probe without testing rootless jails.
  EXPECT_EQ(geteuid() != 0, expect_rootless());
  EXPECT_EQ(modelvet::sandbox::rootless_jails(), expect_rootless());
  EXPECT_EQ(modelvet::sandbox::isolation_label(),
            expect_rootless() ? "userns+namespaces+seccomp" : "namespaces+seccomp");
}

TEST(Isolation, UserNamespaceMapsTheJailUserToTheCaller) {
  JailOutcome out;
  auto seen = run_in_jail(
      "import os, json\n"
      "print(json.dumps({'uid_map': open('/proc/self/uid_map').read().split(), 'uid': os.getuid(),"
      " 'userns': os.stat('/proc/self/ns/user').st_ino}))",
      &out);
  ASSERT_TRUE(seen.is_object()) << out.output;
  const int jail_uid = modelvet::sandbox::kJailUidBase;  // slot 0
  EXPECT_EQ(seen["uid"], jail_uid);
  EXPECT_EQ(out.handle.user_namespace, expect_rootless());
  if (expect_rootless()) {
    // One uid, the jail user's, and it is the caller on the host: nothing else is mapped.
    EXPECT_EQ(seen["uid_map"], nlohmann::json({std::to_string(jail_uid), std::to_string(geteuid()), "1"}));
    EXPECT_NE(seen["userns"].get<uint64_t>(), inode_of("/proc/self/ns/user"));
    EXPECT_TRUE(out.handle.cgroup_path.empty());
  } else {
    EXPECT_EQ(seen["uid_map"], nlohmann::json({"0", "0", "4294967295"}));
    EXPECT_EQ(seen["userns"].get<uint64_t>(), inode_of("/proc/self/ns/user"));
    EXPECT_FALSE(out.handle.cgroup_path.empty());
  }
}

TEST(Isolation, FakeNetworkAnswersInsideTheJail) {
  // DNS goes to 127.0.0.1:53 by resolv.conf (no steering needed), and the fake TCP service
  // listens on the jail's loopback: both were bound inside the jail and handed out.
  JailOutcome out;
  auto seen = run_in_jail(
      "import socket, json\n"
      "addr = socket.gethostbyname('c2.modelvet-test.invalid')\n"
      "print(json.dumps({'addr': addr}))",
      &out);
  ASSERT_TRUE(seen.is_object()) << out.output;
  auto expected = modelvet::sandbox::fake_address_for("c2.modelvet-test.invalid");
  EXPECT_EQ(seen["addr"], fmt::format("{}.{}.{}.{}", expected[0], expected[1], expected[2], expected[3]));
  bool logged = false;
  for (const auto& e : out.net_events)
    logged |= e.kind == "dns" && e.data.value("name", "") == "c2.modelvet-test.invalid";
  EXPECT_TRUE(logged) << "the fake DNS did not log the query";
  EXPECT_NE(out.handle.netns.inode, 0u);
}

TEST(Isolation, TeardownLeavesNoProcessInThePidNamespace) {
  JailOutcome out;
  run_in_jail("import os\nif os.fork() == 0:\n    os.setsid()\n    os.execv('/bin/sleep', ['/bin/sleep', '30'])\n"
              "print('{\"ok\": true}')",
              &out);
  ASSERT_NE(out.handle.pidns_inode, 0u);
  EXPECT_NE(out.handle.pidns_inode, inode_of("/proc/self/ns/pid"));
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !isdigit(static_cast<unsigned char>(name[0]))) continue;
    EXPECT_NE(inode_of(entry.path().string() + "/ns/pid"), out.handle.pidns_inode) << "left behind: pid " << name;
  }
  EXPECT_FALSE(fs::exists(out.handle.staging_dir));
}

TEST(Isolation, AlternativesLinksResolveReadOnly) {
  // /usr/bin/awk -> /etc/alternatives/awk -> /usr/bin/mawk: programs a payload may exec resolve,
  // and the bind-mounted alternatives cannot be changed.
  ASSERT_TRUE(fs::is_symlink("/etc/alternatives/awk")) << "host has no awk alternative";
  JailOutcome out;
  auto seen = run_in_jail(
      "import os, json\n"
      "try:\n    os.symlink('/tmp/x', '/etc/alternatives/modelvet-test'); writable = True\n"
      "except OSError: writable = False\n"
      "print(json.dumps({'awk': os.access(os.path.realpath('/usr/bin/awk'), os.X_OK), 'writable': writable}))",
      &out);
  ASSERT_TRUE(seen.is_object()) << out.output;
  EXPECT_TRUE(seen["awk"].get<bool>());
  EXPECT_FALSE(seen["writable"].get<bool>());
}

// --- the jail's network card and the proof that nothing leaves ---------------------------------

namespace {

// A namespace view as inspect_netns_of builds it: lo and the sink NIC, every route through them.
NetnsView workstation_view(const std::string& nic_kind) {
  NetnsView v;
  v.inode = 1;
  v.interfaces = {"lo", modelvet::sandbox::kJailNic};
  v.links = {NetLink{1, "lo", "", IFF_LOOPBACK | IFF_UP, 0, false, 0},
             NetLink{2, modelvet::sandbox::kJailNic, nic_kind, IFF_UP | IFF_BROADCAST | IFF_MULTICAST, 0, false, 0}};
  v.ipv4_routes = 2;
  v.dumped = true;
  return v;
}

// rtnetlink dump bytes, message by message.
struct DumpBuilder {
  std::string bytes;
  void message(uint16_t type, const void* body, size_t len, const std::vector<std::pair<uint16_t, std::string>>& attrs) {
    std::string m(NLMSG_LENGTH(len), '\0');
    memcpy(m.data() + NLMSG_HDRLEN, body, len);
    for (const auto& [t, data] : attrs) {
      m.resize(NLMSG_ALIGN(m.size()));
      rtattr a{uint16_t(RTA_LENGTH(data.size())), t};
      m.append(reinterpret_cast<const char*>(&a), sizeof a);
      m += data;
    }
    m.resize(NLMSG_ALIGN(m.size()));
    nlmsghdr h{};
    h.nlmsg_len = uint32_t(m.size());
    h.nlmsg_type = type;
    memcpy(m.data(), &h, sizeof h);
    bytes += m;
  }
  void link(int index, const std::string& name, unsigned flags, const std::string& kind, int peer = 0) {
    ifinfomsg ifi{};
    ifi.ifi_index = index;
    ifi.ifi_flags = flags;
    std::vector<std::pair<uint16_t, std::string>> attrs = {{IFLA_IFNAME, name + '\0'}};
    if (!kind.empty()) {
      std::string nested(RTA_LENGTH(kind.size() + 1), '\0');
      rtattr k{uint16_t(RTA_LENGTH(kind.size() + 1)), IFLA_INFO_KIND};
      memcpy(nested.data(), &k, sizeof k);
      memcpy(nested.data() + RTA_LENGTH(0), kind.c_str(), kind.size() + 1);
      attrs.push_back({IFLA_LINKINFO, nested});
    }
    if (peer) attrs.push_back({IFLA_LINK, std::string(reinterpret_cast<const char*>(&peer), 4)});
    message(RTM_NEWLINK, &ifi, sizeof ifi, attrs);
  }
  void route(int oif, uint8_t type = RTN_UNICAST) {
    rtmsg rt{};
    rt.rtm_family = AF_INET;
    rt.rtm_table = RT_TABLE_MAIN;
    rt.rtm_type = type;
    message(RTM_NEWROUTE, &rt, sizeof rt, {{RTA_OIF, std::string(reinterpret_cast<const char*>(&oif), 4)}});
  }
  void done() { message(NLMSG_DONE, "\0\0\0\0", 4, {}); }
};

}  // namespace

TEST(Isolation, OnlyLoAndSinkDevicesCountAsIsolated) {
  EXPECT_TRUE(workstation_view("dummy").isolated());
  EXPECT_TRUE(workstation_view("ifb").isolated());
  // Any device that can carry a packet somewhere: a veth (its peer), tunnels (their underlay),
  // macvlan/ipvlan (a lower device), tun/tap (a process holding the fd), a real NIC (no kind).
  for (const char* kind : {"veth", "vxlan", "geneve", "gre", "gretap", "ipip", "sit", "ip6tnl", "macvlan", "macvtap",
                           "ipvlan", "tun", "wireguard", "bridge", "bond", "vlan", "vrf", "netkit", ""}) {
    EXPECT_FALSE(workstation_view(kind).isolated()) << "kind '" << kind << "'";
  }
  auto v = workstation_view("dummy");
  v.links[1].link = 7;  // a lower device or peer
  EXPECT_FALSE(v.isolated());
  v = workstation_view("dummy");
  v.links[1].link_elsewhere = true;
  EXPECT_FALSE(v.isolated());
  v = workstation_view("dummy");
  v.links[1].master = 3;
  EXPECT_FALSE(v.isolated());
  v = workstation_view("dummy");
  v.stray_routes = 1;
  EXPECT_FALSE(v.isolated());
  v = workstation_view("dummy");
  v.interfaces.push_back("veth0");  // /proc sees a device the dump did not
  EXPECT_FALSE(v.isolated());
  v = workstation_view("dummy");
  v.dumped = false;  // no dump, no proof
  EXPECT_FALSE(v.isolated());
  v = workstation_view("dummy");
  v.links[0].name = "lo0";
  EXPECT_FALSE(v.isolated());
  v = workstation_view("dummy");
  v.links.erase(v.links.begin());
  v.interfaces.erase(v.interfaces.begin());
  EXPECT_FALSE(v.isolated()) << "no lo";
}

TEST(Isolation, RtnetlinkDumpParsingFindsKindsPeersAndStrayRoutes) {
  DumpBuilder sink;
  sink.link(1, "lo", IFF_LOOPBACK | IFF_UP, "");
  sink.link(2, "enp3s0", IFF_UP | IFF_BROADCAST, "ifb");
  sink.done();
  sink.route(2);
  sink.route(1);
  sink.route(0, RTN_BLACKHOLE);  // goes nowhere: fine
  sink.done();
  sink.done();
  NetnsView view;
  view.interfaces = {"lo", "enp3s0"};
  ASSERT_TRUE(modelvet::sandbox::parse_rtnetlink_dump(sink.bytes, &view));
  ASSERT_EQ(view.links.size(), 2u);
  EXPECT_EQ(view.links[1].kind, "ifb");
  EXPECT_EQ(view.stray_routes, 0);
  EXPECT_TRUE(view.dumped);
  EXPECT_TRUE(view.isolated());

  DumpBuilder veth;
  veth.link(1, "lo", IFF_LOOPBACK | IFF_UP, "");
  veth.link(2, "enp3s0", IFF_UP | IFF_BROADCAST, "veth", 3);  // named like the sink, but a veth
  veth.done();
  veth.route(2);
  veth.done();
  veth.done();
  NetnsView bad;
  bad.interfaces = {"lo", "enp3s0"};
  ASSERT_TRUE(modelvet::sandbox::parse_rtnetlink_dump(veth.bytes, &bad));
  EXPECT_EQ(bad.links[1].kind, "veth");
  EXPECT_EQ(bad.links[1].link, 3);
  EXPECT_EQ(bad.stray_routes, 1);  // the route leaves by the veth
  EXPECT_FALSE(bad.isolated());

  NetnsView truncated;
  EXPECT_FALSE(modelvet::sandbox::parse_rtnetlink_dump(sink.bytes.substr(0, sink.bytes.size() - 3), &truncated));
  EXPECT_FALSE(truncated.isolated());
}

// A real namespace (made here, rootless too) holding a veth pair, then an ifb: inspect_netns_of
// refuses the first and accepts the second, by the kinds the kernel reports.
TEST(Isolation, InspectionOfARealNamespaceRefusesAVeth) {
  auto inspect = [](const std::string& setup) {
    int go[2];
    EXPECT_EQ(pipe(go), 0);
    const uid_t uid = geteuid();
    pid_t child = fork();
    if (child == 0) {
      close(go[0]);
      if (uid != 0) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) _exit(2);
        std::ofstream("/proc/self/setgroups") << "deny";
        std::ofstream("/proc/self/uid_map") << "0 " << uid << " 1";
      } else if (unshare(CLONE_NEWNET) != 0) {
        _exit(2);
      }
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1), dup2(devnull, 2);
      std::string script = "ip link set lo up && " + setup + " && echo ok >&3 && exec sleep 30";
      dup2(go[1], 3);
      execl("/bin/sh", "sh", "-c", script.c_str(), nullptr);
      _exit(3);
    }
    close(go[1]);
    char c = 0;
    bool ready = read(go[0], &c, 1) == 1;
    close(go[0]);
    NetnsView view;
    std::string error;
    if (ready) view = modelvet::sandbox::inspect_netns_of(child, &error);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    EXPECT_TRUE(ready) << "could not set up: " << setup;
    return std::make_pair(view, error);
  };
  auto [veth, veth_error] = inspect("ip link add enp3s0 type veth peer name v1 && ip link set enp3s0 up");
  EXPECT_TRUE(veth.dumped) << veth_error;
  bool saw_veth = false;
  for (const auto& l : veth.links) saw_veth |= l.kind == "veth";
  EXPECT_TRUE(saw_veth);
  EXPECT_FALSE(veth.isolated());

  auto [ifb, ifb_error] = inspect("ip link add enp3s0 type ifb && ip link set enp3s0 up");
  EXPECT_TRUE(ifb.dumped) << ifb_error;
  EXPECT_TRUE(ifb.isolated()) << ifb_error;
}

TEST(Isolation, JailSeesLoAndTheSinkNicWithADefaultRoute) {
  NetnsView seen;
  const std::string model = "/tmp/modelvet-isolation-model-" + std::to_string(geteuid()) + ".pkl";
  std::ofstream(model, std::ios::binary) << std::string("\x80\x04}\x94.", 5);
  JailConfig cfg;
  cfg.model_path = model;
  cfg.exe_path = "/usr/bin/python3.11";
  cfg.harness_args = {"-I", "-c",
                      "import socket, json, os\n"
                      "print(json.dumps({'nics': [n for _, n in socket.if_nameindex()],"
                      " 'sys': sorted(os.listdir('/sys/class/net')),"
                      " 'route': open('/proc/net/route').read().splitlines()[1:],"
                      " 'mac': open('/sys/class/net/enp3s0/address').read().strip(),"
                      " 'operstate': open('/sys/class/net/enp3s0/operstate').read().strip(),"
                      " 'arp': open('/proc/net/arp').read().splitlines()[1:]}))"};
  JailOutcome out = modelvet::sandbox::run_jail(cfg, [&](const JailHandle& h, std::string*) {
    seen = h.netns;
    return h.netns.isolated();
  });
  ASSERT_TRUE(out.ran) << out.error;
  EXPECT_TRUE(seen.isolated());
  EXPECT_EQ(seen.interfaces, (std::vector<std::string>{"lo", modelvet::sandbox::kJailNic}));
  ASSERT_EQ(seen.links.size(), 2u);
  EXPECT_TRUE(modelvet::sandbox::is_sink_kind(seen.links[1].kind)) << seen.links[1].kind;
  EXPECT_EQ(seen.ipv4_routes, 2);  // default via the gateway, the /24
  EXPECT_EQ(seen.stray_routes, 0);
  nlohmann::json last;
  std::istringstream lines(out.output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') last = nlohmann::json::parse(line, nullptr, false);
  ASSERT_TRUE(last.is_object()) << out.output;
  EXPECT_EQ(last["nics"], nlohmann::json({"lo", modelvet::sandbox::kJailNic}));
  EXPECT_EQ(last["sys"], nlohmann::json({modelvet::sandbox::kJailNic, "lo"}));
  EXPECT_EQ(last["mac"].get<std::string>().substr(0, 8), "b8:ca:3a");
  EXPECT_EQ(last["operstate"], "up");
  bool default_route = false;
  for (const auto& r : last["route"]) default_route |= r.get<std::string>().rfind(std::string(modelvet::sandbox::kJailNic) + "\t00000000", 0) == 0;
  EXPECT_TRUE(default_route) << last["route"].dump();
  ASSERT_EQ(last["arp"].size(), 1u);
  EXPECT_EQ(last["arp"][0].get<std::string>().rfind(modelvet::sandbox::kJailGateway, 0), 0u);
  EXPECT_TRUE(out.clean_teardown);
}
