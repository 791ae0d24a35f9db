#pragma once
// Static pre-scan: what the file is (by content) and what a static scanner would see in it.
// It never decides a verdict: it picks the loader for the detonation and shows the analyst
// the imported globals, container members and parser anomalies that picklescan/modelscan
// would have flagged. Every parser here is bounded in time and memory on hostile input.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "prescan/gguf.h"
#include "prescan/onnx.h"

namespace modelvet::prescan {

// Format ids: "pickle", "pytorch-zip", "pytorch-legacy", "torchscript", "numpy-npy", "numpy-npz",
// "joblib", "dill", "keras-h5", "hdf5", "paddle", "savedmodel", "7z", "zip", "tar", "nemo",
// "safetensors", "gguf", "onnx", "empty", "unknown". Loader ids: pickle, torch, joblib, dill, numpy,
// keras-h5, paddle, savedmodel, archive (tar, nemo, zips of models: each member by content),
// gguf (chat template rendered with jinja2), onnx (onnx.load), or "".
struct Sniff {
  std::string format = "unknown";
  std::string loader;
  std::vector<std::string> notes;
  // Set when the content itself proves no victim's loader runs code from it (a valid
  // safetensors header, an HDF5 file of plain data): the reason, and no detonation is needed.
  std::string no_code_path;
};

// Content first; the extension only breaks ties between identical bytes (pickle vs paddle).
Sniff sniff_file(const std::string& path);  // also accepts a directory (SavedModel dir)
Sniff sniff_bytes(std::string_view head, std::string_view name_hint);

struct GlobalRef {
  std::string module, name;
  uint64_t offset = 0;
  std::string opcode;   // GLOBAL, STACK_GLOBAL, INST
  bool called = false;  // the global was called: REDUCE/NEWOBJ/NEWOBJ_EX/OBJ/INST/BUILD on it
  std::string member;   // container member it was found in ("" for the file itself)
  std::string qualified() const { return module + "." + name; }
};

struct PickleScan {
  std::vector<GlobalRef> globals;
  int protocol = -1;             // from the first PROTO opcode; -1 when absent (protocol 0/1)
  uint64_t length = 0;           // bytes parsed (through the last STOP reached, or the break)
  bool complete = false;         // reached STOP
  std::vector<std::string> anomalies;
  std::string member;            // where this pickle came from ("" for the file itself)
};

// Disassembles a pickle stream (protocols 0-5) by simulating the unpickler's stack and memo
// without building objects. Broken input is reported in `anomalies`, never thrown.
PickleScan disassemble_pickle(std::string_view bytes);

struct Flag {
  std::string global;    // "module.name"
  std::string severity;  // "dangerous" | "suspicious"
  std::string scanner;   // "picklescan" | "modelscan"
};
// What the published picklescan and modelscan lists (prescan/scanner_lists.json) say of `g`.
std::vector<Flag> scanner_flags(const GlobalRef& g);

// Keras model_config found in an HDF5 file (or a .keras archive's config.json).
struct KerasConfig {
  bool found = false;
  std::vector<std::string> layer_classes;  // distinct class_name values, in order of appearance
  std::vector<std::string> lambda_layers;  // "name: what its function is" per Lambda layer
  std::vector<std::string> references;     // module / function names the config refers to
};

struct Report {
  Sniff sniff;
  std::vector<std::string> members;    // container members (zip, 7z, tar, npz, directory)
  std::vector<PickleScan> pickles;     // every pickle found, with its member
  std::vector<std::string> anomalies;  // container level: bad CRC, odd flags, encrypted, nested...
  KerasConfig keras;
  GgufMetadata gguf;  // when the file is GGUF (gguf.is_gguf)
  OnnxInfo onnx;      // when the file is ONNX (onnx.is_onnx)
  // Includes "flagged": [{"global", "scanners", "severity", "by_scanner"}] merged over all pickles.
  nlohmann::json to_json() const;
};

Report prescan_file(const std::string& path, uint64_t max_bytes = 256ull << 20);

// Files beside `path` that its format reaches by name when a victim loads it: legacy joblib's
// multi-file dumps (`X.pkl` + `X.pkl_01.npy`, `X.gz` + `X.gz_01.npy.z`), an ONNX model's external
// data files (locations in the model's own directory). Bounded in count and bytes.
struct Siblings {
  std::vector<std::string> paths;
  std::vector<std::string> notes;  // what was left out, and why
};
Siblings model_siblings(const std::string& path, const Report& report);

}  // namespace modelvet::prescan
