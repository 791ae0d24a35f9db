// Bytes text (trace/bytes_text.h): every byte string round-trips exactly, the text is always
// valid UTF-8, and valid UTF-8 other than `\` and control characters is left as it is.
#include <random>

#include <gtest/gtest.h>

#include "trace/bytes_text.h"

namespace modelvet {
namespace {

TEST(BytesText, EscapesInvalidBytesBackslashAndControlsOnly) {
  EXPECT_EQ(escape_bytes("plain/path.pkl"), "plain/path.pkl");
  EXPECT_EQ(escape_bytes("b_latin1_\xe9\xff.pkl"), "b_latin1_\\xe9\\xff.pkl");
  EXPECT_EQ(escape_bytes("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(escape_bytes("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_bytes("new\nline\ttab\r"), "new\\nline\\ttab\\r");
  EXPECT_EQ(escape_bytes(std::string("nul\0bel\x07" "del\x7f", 12)), "nul\\x00bel\\x07del\\x7f");
  EXPECT_EQ(escape_bytes("\xc2\x85"), "\\xc2\\x85");                   // C1 control (NEL)
  EXPECT_EQ(escape_bytes("\xc0\xaf"), "\\xc0\\xaf");                   // overlong '/'
  EXPECT_EQ(escape_bytes("\xed\xa0\x80"), "\\xed\\xa0\\x80");          // UTF-16 surrogate
  EXPECT_EQ(escape_bytes("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(escape_bytes("\xe2\x82"), "\\xe2\\x82");                   // truncated sequence
  EXPECT_EQ(escape_ascii("GET /\xc3\xa9 \\\n"), "GET /\\xc3\\xa9 \\\\\\n");
  EXPECT_EQ(escape_ascii_prefix("ab\x01", 4), "ab");  // never cut inside an escape
}

TEST(BytesText, EveryByteStringRoundTripsAndIsValidUtf8) {
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string raw(rng() % 40, '\0');
    for (auto& c : raw) c = char(i % 3 == 0 ? rng() % 256 : i % 3 == 1 ? "\\x\xe9\xc3\xa9\n a"[rng() % 8] : 0x80 + rng() % 0x80);
    for (const std::string& text : {escape_bytes(raw), escape_ascii(raw)}) {
      ASSERT_TRUE(is_valid_utf8(text)) << text;
      bool ok = false;
      ASSERT_EQ(unescape_bytes(text, &ok), raw) << text;
      EXPECT_TRUE(ok);
    }
  }
}

TEST(BytesText, UnescapeKeepsWhatIsNoEscape) {
  bool ok = true;
  EXPECT_EQ(unescape_bytes("a\\q\\x4", &ok), "a\\q\\x4");
  EXPECT_FALSE(ok);
  EXPECT_EQ(unescape_bytes("\\x41\\X"), "A\\X");
}

TEST(BytesText, TheJsonGuardEscapesInvalidStringsAndKeysAndNothingElse) {
  nlohmann::json j = {{"ok", "caf\xc3\xa9 a\\b"},
                      {"bad", "x\xff"},
                      {"list", {"fine", std::string("\xe9")}},
                      {"nested", {{std::string("k\xfe"), 1}}}};
  escape_invalid_strings(j);
  EXPECT_EQ(j["ok"], "caf\xc3\xa9 a\\b");  // valid: untouched, backslash too
  EXPECT_EQ(j["bad"], "x\\xff");
  EXPECT_EQ(j["list"][1], "\\xe9");
  EXPECT_TRUE(j["nested"].contains("k\\xfe"));
  EXPECT_NO_THROW(j.dump());
}

}  // namespace
}  // namespace modelvet
