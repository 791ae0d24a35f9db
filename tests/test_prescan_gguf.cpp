// GGUF metadata (prescan/gguf.cpp) and ONNX recognition (prescan/onnx.cpp): well-formed files
// parse, and every malformed, truncated or huge-length input gives a clear error, never a crash.
#include <gtest/gtest.h>

#include <string>

#include "prescan/internal.h"
#include "prescan/prescan.h"
#include "tests/test_prescan_support.h"

using namespace modelvet::prescan;
using prescan_test::le;

namespace {

// A GGUF writer (little-endian, version 3 unless told), enough for the tests.
struct Gguf {
  uint32_t version = 3;
  std::string kvs;
  uint64_t kv_count = 0;
  std::string tensors;
  uint64_t tensor_count = 0;

  static std::string str(const std::string& s) { return le(s.size(), 8) + s; }
  Gguf& string(const std::string& key, const std::string& value) {
    kvs += str(key) + le(8, 4) + str(value);
    ++kv_count;
    return *this;
  }
  Gguf& u32(const std::string& key, uint32_t v) {
    kvs += str(key) + le(4, 4) + le(v, 4);
    ++kv_count;
    return *this;
  }
  Gguf& strings(const std::string& key, const std::vector<std::string>& values) {
    kvs += str(key) + le(9, 4) + le(8, 4) + le(values.size(), 8);
    for (const auto& v : values) kvs += str(v);
    ++kv_count;
    return *this;
  }
  Gguf& tensor(const std::string& name) {
    tensors += str(name) + le(1, 4) + le(4, 8) + le(0, 4) + le(0, 8);
    ++tensor_count;
    return *this;
  }
  std::string bytes() const {
    return "GGUF" + le(version, 4) + le(tensor_count, 8) + le(kv_count, 8) + kvs + tensors + std::string(32, '\0');
  }
};

const std::string kChatMl =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const std::string kInjection =
    "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('touch /tmp/mv-gguf').read() }}";

Gguf model(const std::string& tpl) {
  Gguf g;
  g.string("general.architecture", "llama").string("general.name", "tiny").u32("llama.context_length", 2048);
  g.strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "hello"}).u32("tokenizer.ggml.bos_token_id", 1);
  g.string("tokenizer.chat_template", tpl);
  g.tensor("token_embd.weight");
  return g;
}

}  // namespace

TEST(PrescanGguf, ParsesMetadataAndTheChatTemplate) {
  GgufMetadata m = parse_gguf(model(kChatMl).bytes());
  ASSERT_TRUE(m.ok) << m.error;
  EXPECT_EQ(m.version, 3u);
  EXPECT_EQ(m.kv_count, 6u);
  EXPECT_EQ(m.tensor_count, 1u);
  EXPECT_EQ(m.tensors_parsed, 1u);
  EXPECT_EQ(m.architecture, "llama");
  EXPECT_EQ(m.name, "tiny");
  ASSERT_EQ(m.templates.size(), 1u);
  EXPECT_EQ(m.templates[0].key, "tokenizer.chat_template");
  EXPECT_EQ(m.templates[0].size, kChatMl.size());
  EXPECT_EQ(m.templates[0].text, kChatMl);
  EXPECT_TRUE(m.templates[0].flags.empty()) << m.templates[0].flags.front();
  ASSERT_EQ(m.kvs.size(), 6u);
  EXPECT_EQ(m.kvs[3].type, "array[string]");
  EXPECT_NE(m.kvs[3].preview.find("\"<s>\""), std::string::npos) << m.kvs[3].preview;
}

TEST(PrescanGguf, FlagsTemplateInjectionConstructs) {
  GgufMetadata m = parse_gguf(model(kInjection).bytes());
  ASSERT_TRUE(m.ok) << m.error;
  ASSERT_EQ(m.templates.size(), 1u);
  const auto& f = m.templates[0].flags;
  for (const char* want : {"__globals__", "__builtins__", "__import__", "__init__", "os", "popen"})
    EXPECT_NE(std::find(f.begin(), f.end(), want), f.end()) << want;
  auto words = chat_template_flags("{{ message['content'] | trim }} most positions cost");
  EXPECT_TRUE(words.empty()) << words.front();  // "os" inside "most"/"positions" is no flag
  auto attr = chat_template_flags("{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f') }}");
  EXPECT_NE(std::find(attr.begin(), attr.end(), "|attr filter"), attr.end());
}

TEST(PrescanGguf, SniffPicksTheGgufLoaderAndReportsTheTemplate) {
  Sniff s = sniff_bytes(model(kInjection).bytes(), "model.bin");
  EXPECT_EQ(s.format, "gguf");
  EXPECT_EQ(s.loader, "gguf");
  std::string notes;
  for (const auto& n : s.notes) notes += n + "\n";
  EXPECT_NE(notes.find("architecture llama"), std::string::npos) << notes;
  EXPECT_NE(notes.find("template constructs: __globals__, __builtins__, __import__, __init__, os, popen"), std::string::npos) << notes;
  Report r = prescan_bytes(model(kChatMl).bytes(), "model.gguf");
  auto j = r.to_json();
  ASSERT_TRUE(j.contains("gguf")) << j.dump();
  EXPECT_EQ(j["gguf"]["templates"][0]["size"], kChatMl.size());
  EXPECT_EQ(j["gguf"]["architecture"], "llama");
}

TEST(PrescanGguf, VersionTwoAndOneAndBigEndian) {
  Gguf g = model(kChatMl);
  g.version = 2;
  EXPECT_TRUE(parse_gguf(g.bytes()).ok);
  // Version 1: u32 counts and lengths.
  std::string v1 = "GGUF" + le(1, 4) + le(0, 4) + le(1, 4) + le(3, 4) + "k.a" + le(4, 4) + le(7, 4);
  GgufMetadata m1 = parse_gguf(v1);
  EXPECT_TRUE(m1.ok) << m1.error;
  EXPECT_EQ(m1.version, 1u);
  std::string be = "GGUF" + std::string("\0\0\0\3", 4) + std::string(8, '\0') + std::string(8, '\0');
  GgufMetadata mb = parse_gguf(be);
  EXPECT_TRUE(mb.ok) << mb.error;
  EXPECT_TRUE(mb.big_endian);
}

TEST(PrescanGguf, TruncatedAtEveryByteIsAnErrorNeverACrash) {
  std::string full = model(kInjection).bytes();
  size_t header_end = full.size() - 32 - model(kInjection).tensors.size();  // through the key/values
  for (size_t n = 0; n < header_end; ++n) {
    GgufMetadata m = parse_gguf(std::string_view(full).substr(0, n));
    if (n < 4) {
      EXPECT_FALSE(m.is_gguf);
      continue;
    }
    EXPECT_FALSE(m.ok) << n;
    EXPECT_FALSE(m.error.empty()) << n;
  }
  // Cut in the tensor infos: the metadata is whole, the cut is noted.
  GgufMetadata m = parse_gguf(std::string_view(full).substr(0, header_end + 5));
  EXPECT_TRUE(m.ok) << m.error;
  ASSERT_FALSE(m.notes.empty());
  EXPECT_NE(m.notes.back().find("tensor infos"), std::string::npos);
}

TEST(PrescanGguf, HugeDeclaredCountsAndLengthsAreRefusedWithoutAllocating) {
  auto head = [](uint64_t tensors, uint64_t kvs) { return "GGUF" + le(3, 4) + le(tensors, 8) + le(kvs, 8); };
  GgufMetadata kv = parse_gguf(head(0, ~0ull));
  EXPECT_FALSE(kv.ok);
  EXPECT_NE(kv.error.find("key/values declared"), std::string::npos) << kv.error;
  // A key of 2^63 bytes.
  GgufMetadata key = parse_gguf(head(0, 1) + le(1ull << 63, 8) + "abc");
  EXPECT_FALSE(key.ok);
  EXPECT_NE(key.error.find("string of"), std::string::npos) << key.error;
  // A string value longer than the file.
  GgufMetadata val = parse_gguf(head(0, 1) + Gguf::str("k") + le(8, 4) + le(1000, 8) + "short");
  EXPECT_FALSE(val.ok);
  EXPECT_NE(val.error.find("1000 bytes declared"), std::string::npos) << val.error;
  // An array of 2^40 uint64s, and one of 2^20 strings in a few bytes.
  GgufMetadata arr = parse_gguf(head(0, 1) + Gguf::str("k") + le(9, 4) + le(10, 4) + le(1ull << 40, 8) + "xx");
  EXPECT_FALSE(arr.ok);
  EXPECT_NE(arr.error.find("cap"), std::string::npos) << arr.error;
  GgufMetadata strs = parse_gguf(head(0, 1) + Gguf::str("k") + le(9, 4) + le(8, 4) + le(1u << 20, 8) + std::string(64, '\0'));
  EXPECT_FALSE(strs.ok);
  EXPECT_NE(strs.error.find("bytes left"), std::string::npos) << strs.error;
  // Arrays of arrays, deeper than the cap.
  std::string nested = head(0, 1) + Gguf::str("k") + le(9, 4);
  for (int i = 0; i < 10; ++i) nested += le(9, 4) + le(1, 8);
  GgufMetadata deep = parse_gguf(nested + std::string(64, '\0'));
  EXPECT_FALSE(deep.ok);
  EXPECT_NE(deep.error.find("nested"), std::string::npos) << deep.error;
  // Unknown types, bad versions, a huge tensor count.
  EXPECT_NE(parse_gguf(head(0, 1) + Gguf::str("k") + le(77, 4)).error.find("unknown value type"), std::string::npos);
  EXPECT_NE(parse_gguf("GGUF" + le(9, 4) + std::string(16, '\0')).error.find("version"), std::string::npos);
  GgufMetadata many = parse_gguf(head(~0ull, 0));
  EXPECT_TRUE(many.ok);
  EXPECT_EQ(many.tensors_parsed, 0u);
  // The sniffer still names the format (the loader will refuse it as llama.cpp does) and says why.
  Sniff s = sniff_bytes(head(0, ~0ull), "x.gguf");
  EXPECT_EQ(s.format, "gguf");
  ASSERT_FALSE(s.notes.empty());
  EXPECT_NE(s.notes[0].find("GGUF metadata invalid"), std::string::npos);
}

TEST(PrescanGguf, FlippedBytesNeverCrash) {
  std::string full = model(kInjection).bytes();
  for (size_t i = 0; i < full.size(); ++i)
    for (uint8_t x : {0x01, 0x80, 0xff}) {
      std::string b = full;
      b[i] = char(uint8_t(b[i]) ^ x);
      GgufMetadata m = parse_gguf(b);
      if (!m.ok && m.is_gguf) {
        EXPECT_FALSE(m.error.empty());
      }
      (void)m.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
}

// ---- ONNX --------------------------------------------------------------------------------

namespace {

std::string varint(uint64_t v) {
  std::string s;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    s.push_back(char(b | (v ? 0x80 : 0)));
  } while (v);
  return s;
}
std::string field_len(uint32_t n, const std::string& body) { return varint(uint64_t(n) << 3 | 2) + varint(body.size()) + body; }
std::string field_varint(uint32_t n, uint64_t v) { return varint(uint64_t(n) << 3) + varint(v); }

std::string external_tensor(const std::string& name, const std::string& location) {
  return field_len(8, name) + field_len(13, field_len(1, "location") + field_len(2, location)) + field_varint(14, 1);
}

std::string onnx_model(const std::string& graph, const std::string& domain = "") {
  return field_varint(1, 8) + field_len(2, "test") + field_len(7, graph) +
         field_len(8, field_len(1, domain) + field_varint(2, domain.empty() ? 13 : 1));
}

}  // namespace

TEST(PrescanOnnx, RecognisesAModelAndItsExternalData) {
  std::string node = field_len(1, "x") + field_len(2, "y") + field_len(4, "Relu") + field_len(7, "libcustom_ops.so");
  std::string graph = field_len(1, node) + field_len(2, "g") + field_len(5, external_tensor("w", "weights.bin")) +
                      field_len(5, external_tensor("e", "../../../../etc/passwd")) +
                      field_len(5, external_tensor("s", "data/../../../.ssh/id_rsa"));
  OnnxInfo o = parse_onnx(onnx_model(graph));
  ASSERT_TRUE(o.is_onnx);
  EXPECT_EQ(o.ir_version, 8u);
  EXPECT_EQ(o.initializers, 3u);
  ASSERT_EQ(o.external.size(), 3u);
  EXPECT_FALSE(o.external[0].escapes);
  EXPECT_TRUE(o.external[1].escapes);
  EXPECT_FALSE(o.external[1].escapes_after_sanitize);  // onnx 1.12 strips the leading "../"
  EXPECT_TRUE(o.external[2].escapes_after_sanitize);
  ASSERT_EQ(o.native_library_domains.size(), 1u);
  EXPECT_EQ(o.native_library_domains[0], "libcustom_ops.so");
  Sniff s = sniff_bytes(onnx_model(graph), "model.onnx");
  EXPECT_EQ(s.format, "onnx");
  EXPECT_EQ(s.loader, "onnx");
}

TEST(PrescanOnnx, ConservativeAboutWhatIsOnnx) {
  std::string graph = field_len(2, "g");
  EXPECT_TRUE(parse_onnx(onnx_model(graph)).is_onnx);
  EXPECT_FALSE(parse_onnx(field_varint(1, 8) + field_len(7, graph)).is_onnx);             // no opset_import
  EXPECT_FALSE(parse_onnx(field_len(2, "x") + field_varint(1, 8) + field_len(7, graph)).is_onnx);  // ir_version not first
  EXPECT_FALSE(parse_onnx(onnx_model(graph) + field_varint(9, 1)).is_onnx);              // an unknown top-level field
  EXPECT_FALSE(parse_onnx(field_varint(1, 1) + field_len(3, "x")).is_onnx);              // SavedModel-like
  EXPECT_FALSE(parse_onnx("\x08\x08").is_onnx);
  // A head cut inside the graph (a large file): recognised, marked truncated.
  std::string big = onnx_model(graph + field_len(5, std::string(1000, 'a')));
  OnnxInfo cut = parse_onnx(std::string_view(big).substr(0, 40));
  EXPECT_TRUE(cut.is_onnx);
  EXPECT_TRUE(cut.truncated);
  for (size_t n = 0; n < big.size(); ++n) (void)parse_onnx(std::string_view(big).substr(0, n));
  EXPECT_TRUE(location_escapes("/etc/passwd"));
  EXPECT_TRUE(location_escapes("a/../../b"));
  EXPECT_FALSE(location_escapes("a/../b"));
  EXPECT_FALSE(location_escapes("weights.bin"));
}
