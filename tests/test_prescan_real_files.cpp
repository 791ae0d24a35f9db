// Real files written by the victim libraries themselves (Debian's /usr/bin/python3 with torch,
// numpy, joblib, dill, h5py). Only benign objects are serialized; nothing is ever loaded here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "prescan/prescan.h"
#include "tests/test_prescan_support.h"

using modelvet::prescan::prescan_file;
using modelvet::prescan::Report;
using modelvet::prescan::sniff_file;

namespace {

constexpr const char* kGenerator = R"PY(
import json, pickle, sys
import numpy as np, torch, joblib, dill, h5py
d = sys.argv[1]
torch.save({"w": torch.zeros(3)}, f"{d}/zip.pt")
torch.save({"w": torch.zeros(3)}, f"{d}/legacy.pt", _use_new_zipfile_serialization=False)
class AddOne(torch.nn.Module):
    def forward(self, x):
        return x + 1
torch.jit.save(torch.jit.script(AddOne()), f"{d}/script.pt")
np.save(f"{d}/floats.npy", np.arange(4.0))
np.save(f"{d}/objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
np.savez(f"{d}/arrays.npz", a=np.arange(3), b=np.ones(2))
model = {"coef": np.arange(5.0), "name": "linear"}
joblib.dump(model, f"{d}/model.joblib")
joblib.dump(model, f"{d}/model_zlib.joblib", compress=3)
joblib.dump(model, f"{d}/model_gzip.joblib", compress=("gzip", 3))
joblib.dump(model, f"{d}/model_xz.joblib", compress=("xz", 3))
with open(f"{d}/fn.dill", "wb") as f:
    dill.dump(lambda x: x + 1, f)
with open(f"{d}/p0.pkl", "wb") as f:
    pickle.dump({"a": [1, 2]}, f, protocol=0)
with open(f"{d}/p5.pkl", "wb") as f:
    pickle.dump({"a": [1, 2]}, f, protocol=5)
config = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
    {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 3]}},
    {"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}}
with h5py.File(f"{d}/keras.h5", "w") as f:
    f.attrs["model_config"] = json.dumps(config).encode()
    f.attrs["keras_version"] = b"2.11.0"
    f.create_dataset("w", data=np.arange(3.0))
with h5py.File(f"{d}/plain.h5", "w") as f:
    f.create_dataset("x", data=np.arange(3))
)PY";

class PrescanRealFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new prescan_test::TempDir();
    std::ofstream(dir_->path() + "/gen.py") << kGenerator;
    std::string cmd = "/usr/bin/python3 " + dir_->path() + "/gen.py " + dir_->path() + " > " + dir_->path() + "/gen.log 2>&1";
    generated_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override { ASSERT_TRUE(generated_) << "the fixture generator failed; see " << dir_->path() << "/gen.log"; }
  static std::string path(const std::string& name) { return dir_->path() + "/" + name; }

  static prescan_test::TempDir* dir_;
  static bool generated_;
};
prescan_test::TempDir* PrescanRealFiles::dir_ = nullptr;
bool PrescanRealFiles::generated_ = false;

bool has_global(const Report& r, const std::string& qualified) {
  for (const auto& ps : r.pickles)
    for (const auto& g : ps.globals)
      if (g.qualified() == qualified) return true;
  return false;
}

// No benign file written by the real libraries may carry a "dangerous" flag from picklescan or
// modelscan. (fickling lists joblib itself as unsafe: its flags on joblib files are its own
// false positives, asserted in the scanner tests.)
void expect_nothing_dangerous(const Report& r) {
  nlohmann::json j = r.to_json();  // keep it alive: the loop below walks one of its members
  for (const auto& f : j["flagged"])
    for (const char* scanner : {"picklescan", "modelscan"})
      EXPECT_NE(f["by_scanner"].value(scanner, ""), "dangerous") << f.dump();
}

}  // namespace

TEST_F(PrescanRealFiles, TorchZip) {
  Report r = prescan_file(path("zip.pt"));
  EXPECT_EQ(r.sniff.format, "pytorch-zip");
  EXPECT_EQ(r.sniff.loader, "torch");
  ASSERT_GE(r.pickles.size(), 1u);
  EXPECT_EQ(r.pickles[0].member, "zip/data.pkl");
  EXPECT_TRUE(r.pickles[0].complete);
  EXPECT_TRUE(has_global(r, "torch._utils._rebuild_tensor_v2"));
  EXPECT_TRUE(r.anomalies.empty()) << r.to_json()["anomalies"].dump();
  expect_nothing_dangerous(r);
}

TEST_F(PrescanRealFiles, TorchLegacyAndTorchScript) {
  Report legacy = prescan_file(path("legacy.pt"));
  EXPECT_EQ(legacy.sniff.format, "pytorch-legacy");
  ASSERT_EQ(legacy.pickles.size(), 5u);
  for (const auto& ps : legacy.pickles) EXPECT_TRUE(ps.complete);
  EXPECT_TRUE(has_global(legacy, "torch._utils._rebuild_tensor_v2"));
  expect_nothing_dangerous(legacy);

  Report script = prescan_file(path("script.pt"));
  EXPECT_EQ(script.sniff.format, "torchscript");
  EXPECT_EQ(script.sniff.loader, "torch");
  EXPECT_TRUE(std::any_of(script.members.begin(), script.members.end(),
                          [](const auto& m) { return m.find("constants.pkl") != std::string::npos; }));
}

TEST_F(PrescanRealFiles, Numpy) {
  Report floats = prescan_file(path("floats.npy"));
  EXPECT_EQ(floats.sniff.format, "numpy-npy");
  EXPECT_TRUE(floats.pickles.empty());
  Report objects = prescan_file(path("objects.npy"));
  ASSERT_EQ(objects.pickles.size(), 1u);
  EXPECT_TRUE(objects.pickles[0].complete);
  expect_nothing_dangerous(objects);
  Report npz = prescan_file(path("arrays.npz"));
  EXPECT_EQ(npz.sniff.format, "numpy-npz");
  EXPECT_EQ(npz.members, (std::vector<std::string>{"a.npy", "b.npy"}));
  EXPECT_TRUE(npz.pickles.empty());
}

TEST_F(PrescanRealFiles, JoblibPlainAndCompressed) {
  for (const char* name : {"model.joblib", "model_zlib.joblib", "model_gzip.joblib", "model_xz.joblib"}) {
    Report r = prescan_file(path(name));
    EXPECT_EQ(r.sniff.format, "joblib") << name;
    EXPECT_EQ(r.sniff.loader, "joblib") << name;
    ASSERT_EQ(r.pickles.size(), 1u) << name;
    EXPECT_TRUE(has_global(r, "joblib.numpy_pickle.NumpyArrayWrapper")) << name;
    expect_nothing_dangerous(r);
  }
}

TEST_F(PrescanRealFiles, DillAndPlainPickles) {
  Report dill = prescan_file(path("fn.dill"));
  EXPECT_EQ(dill.sniff.format, "dill");
  EXPECT_EQ(dill.sniff.loader, "dill");
  Report p0 = prescan_file(path("p0.pkl"));
  EXPECT_EQ(p0.sniff.format, "pickle");
  ASSERT_EQ(p0.pickles.size(), 1u);
  EXPECT_EQ(p0.pickles[0].protocol, -1);
  EXPECT_TRUE(p0.pickles[0].complete);
  Report p5 = prescan_file(path("p5.pkl"));
  ASSERT_EQ(p5.pickles.size(), 1u);
  EXPECT_EQ(p5.pickles[0].protocol, 5);
  EXPECT_TRUE(p5.pickles[0].anomalies.empty());
}

TEST_F(PrescanRealFiles, Hdf5) {
  Report keras = prescan_file(path("keras.h5"));
  EXPECT_EQ(keras.sniff.format, "keras-h5");
  EXPECT_EQ(keras.sniff.loader, "keras-h5");
  EXPECT_EQ(keras.keras.layer_classes, (std::vector<std::string>{"Sequential", "InputLayer", "Dense"}));
  EXPECT_TRUE(keras.keras.lambda_layers.empty());
  EXPECT_EQ(sniff_file(path("plain.h5")).format, "hdf5");
}
