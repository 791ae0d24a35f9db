#pragma once
// GGUF (llama.cpp's model file): the header and typed metadata key/values, parsed without
// trusting one declared count or length. What matters to a victim is the chat template
// (`tokenizer.chat_template`): llama-cpp-python renders it with jinja2 (unsandboxed before
// 0.2.72, CVE-2024-34359), so the pre-scan shows it, its size and the constructs a template
// injection needs. Tensor data is never read.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelvet::prescan {

struct GgufKv {
  std::string key;
  std::string type;     // "uint32", "string", "array[string]", ...
  std::string preview;  // bounded: a scalar, a string's first bytes, an array's first elements
  uint64_t count = 0;   // elements of an array (1 for a scalar), as parsed
};

struct GgufMetadata {
  bool is_gguf = false;   // starts with the magic
  bool ok = false;        // header and every key/value parsed within the file and the caps
  std::string error;      // why not, when is_gguf and !ok
  bool big_endian = false;
  uint32_t version = 0;
  uint64_t tensor_count = 0, kv_count = 0;  // as declared
  uint64_t tensors_parsed = 0;              // tensor infos read after the key/values
  std::vector<GgufKv> kvs;                  // at most kMaxReportedKvs
  std::string architecture;                 // general.architecture
  std::string name;                         // general.name
  // tokenizer.chat_template (the default) and tokenizer.chat_template.<name> (named ones).
  struct Template {
    std::string key;
    uint64_t size = 0;
    std::string text;                 // at most kMaxTemplateBytes of it
    std::vector<std::string> flags;   // static flags: "__globals__", "popen", ...
  };
  std::vector<Template> templates;
  std::vector<std::string> notes;     // anomalies: caps hit, odd types, duplicates
  nlohmann::json to_json() const;
};

// Hard caps: more than any real model has, small enough that hostile counts cost nothing.
constexpr uint64_t kGgufMaxKvs = 1u << 16;
constexpr uint64_t kGgufMaxArrayElements = 1u << 24;  // tokenizer vocabularies are ~2^18
constexpr uint64_t kGgufMaxStringBytes = 64u << 20;
constexpr uint64_t kGgufMaxTensors = 1u << 20;
constexpr int kGgufMaxArrayDepth = 4;
constexpr size_t kGgufMaxReportedKvs = 256;
constexpr size_t kGgufMaxTemplateBytes = 64u << 10;

// Parses `bytes` (the file, or its first bytes: a truncated file is an error, not a crash).
GgufMetadata parse_gguf(std::string_view bytes);
// Constructs of a template injection found in a Jinja template's text (static flags, not a verdict).
std::vector<std::string> chat_template_flags(std::string_view tpl);

}  // namespace modelvet::prescan
