// The harness on BENIGN files made here with Debian's python3: each run happens in a forked
// child (the harness starts and finalises a whole interpreter) with a pipe as its event fd.
// These tests run outside the jail: they must only ever see benign files made by this fixture.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/harness.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// One benign file per case. Hand-made pickles use protocol 0 so opcode offsets are easy to read.
constexpr const char* kMakeFixtures = R"PY(
import os, pickle, sys
import numpy as np
out = sys.argv[1]
def path(name): return os.path.join(out, name)

with open(path("floats.pkl"), "wb") as f:
    pickle.dump({"a": 1.0, "b": 2.5, "c": [0.5, 0.25]}, f, protocol=4)

import torch
torch.manual_seed(0)
torch.save(torch.nn.Linear(4, 2).state_dict(), path("state_dict.pt"))
torch.save(torch.nn.Linear(4, 2).state_dict(), path("legacy.pt"), _use_new_zipfile_serialization=False)
torch.save(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), path("module.pt"))

import joblib
joblib.dump(np.arange(10, dtype=np.float64), path("array.joblib"))

import dill
with open(path("lambda.dill"), "wb") as f:
    dill.dump(lambda x: x + 1, f)

np.savez(path("arrays.npz"), a=np.arange(3), b=np.ones(2))
np.savez(path("objects.npz"), meta=np.array([{"epoch": 3}], dtype=object))

with open(path("getattr.pkl"), "wb") as f:   # builtins.getattr('abc', 'upper')() == 'ABC'
    f.write(b"cbuiltins\ngetattr\n(Vabc\nVupper\ntR)R.")
with open(path("missing.pkl"), "wb") as f:   # a module the jail does not have
    f.write(b"cno_such_module_xyz\nThing\n)R.")
with open(path("truncated.pkl"), "wb") as f:
    f.write(pickle.dumps({"weights": list(range(100))}, protocol=4)[:-12])
with open(path("sleep.pkl"), "wb") as f:     # time.sleep(30): must not take 30 s
    f.write(b"ctime\nsleep\n(I30\ntR.")
with open(path("eval.pkl"), "wb") as f:      # code from a string, harmless: eval('6*7')
    f.write(b"cbuiltins\neval\n(V6*7\ntR.")

# threading.Timer(60, compile, ('1', '<timer>', 'eval')).start(): harmless, fires after "60 s".
with open(path("timer.pkl"), "wb") as f:
    f.write(b"cbuiltins\ngetattr\n(cthreading\nTimer\n(I60\ncbuiltins\ncompile\n(V1\nV<timer>\nVeval\nttRVstart\ntR)R.")

# 200 sleeps, each followed by a file: every mtime must read back on the warped clock (the kernel
# stamps from its coarse clock, a tick behind). Harmless: files in this fixture's directory.
stamps_code = f"""
import os, time
agree = 0
for i in range(200):
    time.sleep(1)
    p = os.path.join({out!r}, 'stamp%d' % i)
    open(p, 'w').write('x')
    agree += abs(os.stat(p).st_mtime - time.time()) < 0.35
    os.unlink(p)
compile('1', '<mtimes %d/200>' % agree, 'eval')
"""
class Stamps:
    def __reduce__(self): return (exec, (stamps_code,))
with open(path("stamps.pkl"), "wb") as f:
    pickle.dump(Stamps(), f)

# A child that answers after 50 ms of real time (exec'd programs run on the real clock), read with
# a 10 s timeout: the poll on its pipe must outlast the 5 ms sleep cap. Harmless: sh, sleep, echo.
answer_code = """
import subprocess
try:
    out = subprocess.run(['/bin/sh', '-c', 'sleep 0.05; echo ready'], capture_output=True, text=True, timeout=10).stdout.strip()
except subprocess.TimeoutExpired:
    out = 'timed out'
compile('1', '<child %s>' % out, 'eval')
"""
class Answer:
    def __reduce__(self): return (exec, (answer_code,))
with open(path("answer.pkl"), "wb") as f:
    pickle.dump(Answer(), f)

import collections, json, pickletools
framed = pickle.dumps([collections.OrderedDict(a=1), collections.Counter("ab")], protocol=4)
with open(path("framed.pkl"), "wb") as f:
    f.write(framed)
with open(path("framed.offsets.json"), "w") as f:   # where pickletools says the REDUCEs are
    json.dump([pos for op, _, pos in pickletools.genops(framed) if op.name == "REDUCE"], f)

with open(path("weights.pdparams"), "wb") as f:
    pickle.dump({"linear.w": np.zeros((2, 2), dtype=np.float32)}, f, protocol=2)

# Keras H5 with a harmless Lambda (x * 2) and an activation naming a module function (numpy.tanh).
import base64, marshal, h5py
double = lambda x: x * 2
code = base64.b64encode(marshal.dumps(double.__code__)).decode()
lambda_layer = {"class_name": "Lambda", "config": {"name": "lambda_1", "function": [code, None, None],
                "function_type": "lambda", "arguments": {}}}
config = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3], "name": "input_1"}},
    lambda_layer,
    {"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation":
        {"module": "numpy", "class_name": "function", "config": "tanh", "registered_name": "tanh"}}}]}}
with h5py.File(path("lambda.h5"), "w") as f:
    f.attrs["model_config"] = json.dumps(config).encode()
    f.attrs["keras_version"] = "2.11.0"
    f.create_group("model_weights").create_dataset("dense/kernel:0", data=np.zeros((3, 2)))
# A keras_metadata.pb-like protobuf: layer metadata JSON inside binary framing.
with open(path("keras_metadata.pb"), "wb") as f:
    f.write(b"\n\x8a\x02\x12\x07" + json.dumps(lambda_layer).encode() + b"\x1a\x00\x08\x01")

import py7zr
with py7zr.SevenZipFile(path("checkpoint.7z"), "w") as archive:
    archive.write(path("state_dict.pt"), "ckpt/model.pt")
    archive.write(path("framed.pkl"), "ckpt/extra.pkl")
)PY";

struct HarnessRun {
  int exit_code = -1;
  std::vector<json> events;
  double seconds = 0;

  std::vector<json> of_kind(const std::string& kind) const {
    std::vector<json> out;
    for (const auto& e : events)
      if (e.value("kind", "") == kind) out.push_back(e);
    return out;
  }
  json load() const {
    auto loads = of_kind("load");
    return loads.empty() ? json() : loads.front();
  }
  std::vector<std::string> phases() const {
    std::vector<std::string> out;
    for (const auto& e : of_kind("phase")) out.push_back(e.value("name", ""));
    return out;
  }
  std::vector<std::string> callables() const {
    std::vector<std::string> out;
    for (const auto& e : of_kind("call")) out.push_back(e.value("callable", ""));
    return out;
  }
};

class HarnessLoaders : public ::testing::Test {
 protected:
  static inline fs::path dir_;

  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/modelvet-harness-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "make_fixtures.py") << kMakeFixtures;
    std::string cmd = "/usr/bin/python3 " + (dir_ / "make_fixtures.py").string() + " " + dir_.string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static HarnessRun harness(const std::string& file, const std::string& loader, bool exercise = true) {
    modelvet::harness::Options opt;
    opt.model_path = (dir_ / file).string();
    opt.loader = loader;
    opt.format = "test";
    opt.grace_ms = 100;
    opt.exercise = exercise;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return {};
    auto t0 = std::chrono::steady_clock::now();
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      int fd = dup(fds[1]);  // without O_CLOEXEC, like the jail's fd 3
      setenv("TMPDIR", dir_.c_str(), 1);  // the 7z loader's scratch goes where the fixture is cleaned up
      opt.event_fd = fd;
      _exit(modelvet::harness::run(opt));
    }
    close(fds[1]);
    std::string buffer;
    char chunk[65536];
    for (;;) {
      pollfd p{fds[0], POLLIN, 0};
      if (poll(&p, 1, 120000) <= 0) {
        kill(pid, SIGKILL);  // our own child, by pid
        break;
      }
      ssize_t n = read(fds[0], chunk, sizeof chunk);
      if (n <= 0) break;
      buffer.append(chunk, size_t(n));
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    HarnessRun run;
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    size_t start = 0;
    while (start < buffer.size()) {
      size_t end = buffer.find('\n', start);
      if (end == std::string::npos) end = buffer.size();
      run.events.push_back(json::parse(buffer.substr(start, end - start)));
      start = end + 1;
    }
    return run;
  }
};

TEST_F(HarnessLoaders, DictOfFloatsLoadsWithPhasesInOrder) {
  HarnessRun r = harness("floats.pkl", "pickle");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.phases(), (std::vector<std::string>{"setup", "load", "exercise", "grace", "shutdown"}));
  json load = r.load();
  EXPECT_EQ(load["status"], "ok");
  EXPECT_EQ(load["type"], "builtins.dict");
  EXPECT_EQ(load["loader"], "pickle");
  EXPECT_TRUE(r.callables().empty());
  uint64_t last = 0;
  for (const auto& e : r.events) {  // the shared event shape, on one monotonic clock
    EXPECT_EQ(e["source"], "python");
    EXPECT_GT(e["pid"].get<int>(), 0);
    EXPECT_GE(e["t_ns"].get<uint64_t>(), last);
    last = e["t_ns"].get<uint64_t>();
  }
  auto exercised = r.of_kind("exercise");
  ASSERT_EQ(exercised.size(), 1u);
  EXPECT_GE(exercised[0]["items_touched"].get<int>(), 4);
}

TEST_F(HarnessLoaders, GetattrOfStrIsRecordedWithOffsets) {
  HarnessRun r = harness("getattr.pkl", "pickle");
  ASSERT_EQ(r.exit_code, 0);
  auto calls = r.of_kind("call");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["callable"], "builtins.getattr");
  EXPECT_EQ(calls[0]["args"], "('abc', 'upper')");
  EXPECT_EQ(calls[0]["origin"], "pickle REDUCE @ offset 32");
  EXPECT_EQ(calls[1]["callable"], "str.upper");
  EXPECT_EQ(calls[1]["origin"], "pickle REDUCE @ offset 34");
  EXPECT_EQ(r.load()["status"], "ok");
  EXPECT_EQ(r.load()["type"], "builtins.str");
}

TEST_F(HarnessLoaders, MissingModuleBecomesAStubAndLoadingContinues) {
  HarnessRun r = harness("missing.pkl", "pickle");
  ASSERT_EQ(r.exit_code, 0);
  auto stubs = r.of_kind("stub");
  ASSERT_EQ(stubs.size(), 1u);
  EXPECT_EQ(stubs[0]["module"], "no_such_module_xyz");
  EXPECT_EQ(stubs[0]["name"], "Thing");
  EXPECT_EQ(stubs[0]["offset"], 0);
  ASSERT_EQ(r.callables(), (std::vector<std::string>{"no_such_module_xyz.Thing"}));
  EXPECT_EQ(r.of_kind("call")[0]["origin"], "pickle REDUCE @ offset 27");
  EXPECT_EQ(r.load()["status"], "ok");
  EXPECT_EQ(r.load()["stubs"], 1);
}

TEST_F(HarnessLoaders, TruncatedPickleRaises) {
  HarnessRun r = harness("truncated.pkl", "pickle");
  ASSERT_EQ(r.exit_code, 0);
  json load = r.load();
  EXPECT_EQ(load["status"], "raised");
  EXPECT_FALSE(load["exception"].get<std::string>().empty());
  EXPECT_EQ(r.phases(), (std::vector<std::string>{"setup", "load", "grace", "shutdown"}));
}

TEST_F(HarnessLoaders, TorchStateDictLoadsThroughTheRecorder) {
  HarnessRun r = harness("state_dict.pt", "torch");
  ASSERT_EQ(r.exit_code, 0);
  json load = r.load();
  EXPECT_EQ(load["status"], "ok") << load.dump();
  EXPECT_EQ(load["type"], "collections.OrderedDict");
  EXPECT_EQ(load["loader"], "torch");
  EXPECT_EQ(load["library_version"].get<std::string>().substr(0, 4), "1.13");
  auto calls = r.of_kind("call");
  ASSERT_GE(calls.size(), 2u);  // weight and bias
  int rebuilds = 0;
  for (const auto& c : calls) {
    if (c["callable"] == "torch._utils._rebuild_tensor_v2") ++rebuilds;
    EXPECT_EQ(c["member"], "state_dict/data.pkl");
    EXPECT_EQ(c["origin"].get<std::string>().rfind("pickle ", 0), 0u);
  }
  EXPECT_EQ(rebuilds, 2);
  bool opened_model = false;  // the loader's own read of the file, seen by the audit hook
  for (const auto& a : r.of_kind("audit"))
    if (a.value("event", "") == "open" && a.value("phase", "") == "load" && a.value("path", json()).is_string() &&
        a["path"].get<std::string>().ends_with("state_dict.pt"))
      opened_model = true;
  EXPECT_TRUE(opened_model);
  for (const auto& a : r.of_kind("audit")) EXPECT_NE(a.value("phase", ""), "setup") << a.dump();
}

TEST_F(HarnessLoaders, TorchLegacyCheckpointLoads) {
  HarnessRun r = harness("legacy.pt", "torch");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok") << r.load().dump();
  EXPECT_EQ(r.load()["type"], "collections.OrderedDict");
  int rebuilds = 0;
  for (const auto& c : r.of_kind("call")) {
    if (c["callable"] == "torch._utils._rebuild_tensor_v2") ++rebuilds;
    EXPECT_EQ(c["member"], "");
  }
  EXPECT_EQ(rebuilds, 2);
}

TEST_F(HarnessLoaders, TorchModuleIsExercisedWithAForwardPass) {
  HarnessRun r = harness("module.pt", "torch");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok");
  EXPECT_EQ(r.load()["type"], "torch.nn.modules.container.Sequential");
  auto exercised = r.of_kind("exercise");
  ASSERT_EQ(exercised.size(), 1u);
  bool forward = false;
  for (const auto& a : exercised[0]["actions"]) forward |= a.get<std::string>() == "forward([1, 4]) ok";
  EXPECT_TRUE(forward) << exercised[0].dump();
}

TEST_F(HarnessLoaders, JoblibArray) {
  HarnessRun r = harness("array.joblib", "joblib");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok") << r.load().dump();
  EXPECT_EQ(r.load()["type"], "numpy.ndarray");
  EXPECT_EQ(r.load()["loader"], "joblib");
  bool wrapper = false;
  for (const auto& c : r.callables()) wrapper |= c == "joblib.numpy_pickle.NumpyArrayWrapper";
  EXPECT_TRUE(wrapper);
}

TEST_F(HarnessLoaders, DillLambdaRebuildsAFunction) {
  HarnessRun r = harness("lambda.dill", "dill");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok") << r.load().dump();
  EXPECT_EQ(r.load()["type"], "builtins.function");
  bool create_function = false;
  for (const auto& c : r.callables()) create_function |= c == "dill._dill._create_function";
  EXPECT_TRUE(create_function);
}

TEST_F(HarnessLoaders, NpzMembersAreEachLoaded) {
  HarnessRun r = harness("arrays.npz", "numpy");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok");
  EXPECT_EQ(r.load()["members"], json::array({"a", "b"}));
  EXPECT_EQ(r.load()["type"], "numpy.ndarray");
}

TEST_F(HarnessLoaders, NpzObjectMemberIsUnpickledAndAttributed) {
  HarnessRun r = harness("objects.npz", "numpy");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok");
  auto calls = r.of_kind("call");
  ASSERT_FALSE(calls.empty());
  for (const auto& c : calls) EXPECT_EQ(c["member"], "meta");
}

TEST_F(HarnessLoaders, SleepsAreAcceleratedAndSaidSo) {
  HarnessRun r = harness("sleep.pkl", "pickle");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok");
  EXPECT_LT(r.seconds, 25.0);
  ASSERT_EQ(r.of_kind("time_warp").size(), 1u);
  json shutdown;
  for (const auto& p : r.of_kind("phase"))
    if (p["name"] == "shutdown") shutdown = p;
  EXPECT_EQ(shutdown["time_warp"]["sleeps_accelerated"], 1);
  EXPECT_GE(shutdown["time_warp"]["skipped_ms"].get<int>(), 29000);
}

// What a fixture's code reported as compile('1', '<tag ...>', 'eval'): the audited args, or "".
std::string reported(const HarnessRun& r, const std::string& tag) {
  std::string said;
  for (const auto& a : r.of_kind("audit"))
    if (a["event"] == "compile" && a["args"].get<std::string>().find("<" + tag + " ") != std::string::npos)
      said = a["args"].get<std::string>();
  return said;
}

TEST_F(HarnessLoaders, FileTimestampsWrittenRightAfterASkipReadBackOnTheWarpedClock) {
  HarnessRun r = harness("stamps.pkl", "pickle");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok") << r.load().dump();
  const std::string agreed = reported(r, "mtimes");
  EXPECT_NE(agreed.find("<mtimes 200/200>"), std::string::npos) << agreed;
}

TEST_F(HarnessLoaders, ReadinessWaitsOutlastTheSleepCap) {
  HarnessRun r = harness("answer.pkl", "pickle");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok") << r.load().dump();
  const std::string said = reported(r, "child");
  EXPECT_NE(said.find("<child ready>"), std::string::npos) << said;
}

TEST_F(HarnessLoaders, TimersFireEarlyUnderTheTimeWarp) {
  HarnessRun r = harness("timer.pkl", "pickle");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok") << r.load().dump();
  EXPECT_EQ(r.callables(), (std::vector<std::string>{"threading.Timer", "builtins.getattr", "threading.Thread.start"}));
  bool fired = false;
  for (const auto& a : r.of_kind("audit"))
    fired |= a["event"] == "compile" && a["args"].get<std::string>().find("<timer>") != std::string::npos;
  EXPECT_TRUE(fired);
  EXPECT_LT(r.seconds, 20.0);
}

TEST_F(HarnessLoaders, CodeFromAStringShowsAsACompileAuditEvent) {
  HarnessRun r = harness("eval.pkl", "pickle");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["type"], "builtins.int");
  bool compiled = false;
  for (const auto& a : r.of_kind("audit"))
    compiled |= a["event"] == "compile" && a["args"].get<std::string>().find("'6*7'") != std::string::npos &&
                a["phase"] == "load";
  EXPECT_TRUE(compiled);
}

TEST_F(HarnessLoaders, OffsetsInFramedPicklesMatchPickletools) {
  HarnessRun r = harness("framed.pkl", "pickle");
  ASSERT_EQ(r.exit_code, 0);
  json expected = json::parse(std::ifstream(dir_ / "framed.offsets.json"));
  std::vector<int> reduce_offsets;
  for (const auto& c : r.of_kind("call")) {
    std::string origin = c["origin"];
    if (origin.starts_with("pickle REDUCE @ offset ")) reduce_offsets.push_back(std::stoi(origin.substr(23)));
  }
  EXPECT_EQ(json(reduce_offsets), expected);
  EXPECT_EQ(r.load()["type"], "builtins.list");
}

TEST_F(HarnessLoaders, PaddleIsPickleWithLatin1AndSaysEmulated) {
  HarnessRun r = harness("weights.pdparams", "paddle");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok") << r.load().dump();
  EXPECT_EQ(r.load()["loader"], "paddle (emulated)");
  EXPECT_EQ(r.load()["type"], "builtins.dict");
}

TEST_F(HarnessLoaders, KerasH5LambdaIsDecodedAndCalledWhenBuilt) {
  HarnessRun r = harness("lambda.h5", "keras-h5");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok") << r.load().dump();
  EXPECT_EQ(r.load()["loader"], "keras-h5 (emulated)");
  auto calls = r.of_kind("call");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["callable"], "keras.layers.core.lambda_layer.<lambda>");
  EXPECT_EQ(calls[0]["origin"], "keras Lambda layer 'lambda_1' (lambda)");
  EXPECT_NE(calls[0]["args"].get<std::string>().find("ndarray"), std::string::npos);
  EXPECT_EQ(calls[1]["callable"], "numpy.tanh");
  EXPECT_EQ(calls[1]["origin"], "keras activation of layer 'dense'");
  bool unmarshalled = false;  // Keras's own path: base64 -> marshal.loads -> FunctionType
  for (const auto& a : r.of_kind("audit")) unmarshalled |= a["event"] == "marshal.loads" && a["phase"] == "load";
  EXPECT_TRUE(unmarshalled);
}

TEST_F(HarnessLoaders, SavedModelMetadataLambdaIsFoundInTheProtobuf) {
  HarnessRun r = harness("keras_metadata.pb", "savedmodel");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.load()["status"], "ok") << r.load().dump();
  EXPECT_EQ(r.load()["loader"], "savedmodel (emulated)");
  ASSERT_EQ(r.callables(), (std::vector<std::string>{"keras.layers.core.lambda_layer.<lambda>"}));
}

TEST_F(HarnessLoaders, SevenZipIsExtractedAndEveryCheckpointLoaded) {
  HarnessRun r = harness("checkpoint.7z", "7z");
  ASSERT_EQ(r.exit_code, 0);
  json load = r.load();
  EXPECT_EQ(load["status"], "ok") << load.dump();
  EXPECT_EQ(load["loader"], "7z+torch");
  EXPECT_EQ(load["members"], json::array({"ckpt/extra.pkl", "ckpt/model.pt"}));
  bool torch_member = false, pickle_member = false;
  for (const auto& c : r.of_kind("call")) {
    torch_member |= c["member"] == "ckpt/model.pt:state_dict/data.pkl" && c["callable"] == "torch._utils._rebuild_tensor_v2";
    pickle_member |= c["member"] == "ckpt/extra.pkl" && c["callable"] == "collections.OrderedDict";
  }
  EXPECT_TRUE(torch_member);
  EXPECT_TRUE(pickle_member);
}

TEST_F(HarnessLoaders, UnknownLoaderIsAHarnessFailure) {
  HarnessRun r = harness("floats.pkl", "no-such-loader");
  EXPECT_EQ(r.exit_code, modelvet::harness::kExitHarnessFailure);
  EXPECT_EQ(r.of_kind("harness_error").size(), 1u);
  EXPECT_TRUE(r.of_kind("load").empty());
}

}  // namespace
