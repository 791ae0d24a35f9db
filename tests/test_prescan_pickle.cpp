// The pickle disassembler on hand-assembled streams of every protocol and on broken input.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "prescan/prescan.h"
#include "tests/test_prescan_support.h"

using namespace std::string_literals;
using modelvet::prescan::disassemble_pickle;
using modelvet::prescan::PickleScan;
using prescan_test::framed;
using prescan_test::le;
using prescan_test::short_unicode;

namespace {

bool has_anomaly(const PickleScan& ps, const std::string& needle) {
  return std::any_of(ps.anomalies.begin(), ps.anomalies.end(),
                     [&](const std::string& a) { return a.find(needle) != std::string::npos; });
}

std::string dump(const PickleScan& ps) {
  std::string s;
  for (const auto& a : ps.anomalies) s += a + "\n";
  return s;
}

}  // namespace

TEST(PrescanPickle, Protocol0GlobalReduce) {
  PickleScan ps = disassemble_pickle("cos\nsystem\n(S'echo hi'\ntR."s);
  ASSERT_EQ(ps.globals.size(), 1u);
  EXPECT_EQ(ps.globals[0].module, "os");
  EXPECT_EQ(ps.globals[0].name, "system");
  EXPECT_EQ(ps.globals[0].opcode, "GLOBAL");
  EXPECT_EQ(ps.globals[0].offset, 0u);
  EXPECT_TRUE(ps.globals[0].called);
  EXPECT_EQ(ps.protocol, -1);
  EXPECT_TRUE(ps.complete);
  EXPECT_TRUE(ps.anomalies.empty()) << dump(ps);
}

TEST(PrescanPickle, Protocol0InstIsACall) {
  PickleScan ps = disassemble_pickle("(S'ls'\nios\nsystem\n."s);
  ASSERT_EQ(ps.globals.size(), 1u);
  EXPECT_EQ(ps.globals[0].opcode, "INST");
  EXPECT_EQ(ps.globals[0].qualified(), "os.system");
  EXPECT_TRUE(ps.globals[0].called);
  EXPECT_EQ(ps.globals[0].offset, 7u);
  EXPECT_TRUE(ps.complete);
}

TEST(PrescanPickle, Protocol1ObjCallsFirstItemAfterMark) {
  // MARK, GLOBAL __builtin__.getattr, SHORT_BINSTRING 'ab', OBJ, STOP
  PickleScan ps = disassemble_pickle("(c__builtin__\ngetattr\nU\x02" "abo."s);
  ASSERT_EQ(ps.globals.size(), 1u);
  EXPECT_EQ(ps.globals[0].qualified(), "__builtin__.getattr");
  EXPECT_TRUE(ps.globals[0].called);
  EXPECT_TRUE(ps.complete) << dump(ps);
}

TEST(PrescanPickle, Protocol2BinputTuple1Reduce) {
  PickleScan ps = disassemble_pickle("\x80\x02" "cposix\nsystem\nq\x00X\x02\x00\x00\x00id\x85R."s);
  ASSERT_EQ(ps.globals.size(), 1u);
  EXPECT_EQ(ps.globals[0].qualified(), "posix.system");
  EXPECT_EQ(ps.globals[0].offset, 2u);
  EXPECT_TRUE(ps.globals[0].called);
  EXPECT_EQ(ps.protocol, 2);
  EXPECT_TRUE(ps.complete) << dump(ps);
}

TEST(PrescanPickle, Protocol2GlobalNotCalledWhenOnlyReferenced) {
  // A dict holding a reference to builtins.eval: imported but never called.
  PickleScan ps = disassemble_pickle("\x80\x02}q\x00X\x01\x00\x00\x00" "fcbuiltins\neval\nq\x01s."s);
  ASSERT_EQ(ps.globals.size(), 1u);
  EXPECT_FALSE(ps.globals[0].called);
  EXPECT_TRUE(ps.complete) << dump(ps);
}

TEST(PrescanPickle, Protocol3ShortBinbytesArgs) {
  PickleScan ps = disassemble_pickle("\x80\x03" "cbuiltins\nexec\nC\x03" "abc\x85R."s);
  ASSERT_EQ(ps.globals.size(), 1u);
  EXPECT_EQ(ps.globals[0].qualified(), "builtins.exec");
  EXPECT_TRUE(ps.globals[0].called);
  EXPECT_EQ(ps.protocol, 3);
}

TEST(PrescanPickle, Protocol4StackGlobalDirectAndThroughMemo) {
  std::string body = short_unicode("os") + "\x94" + short_unicode("system") + "\x94" +  // memo 0, 1
                     "\x93\x94" "0"s +                                                  // os.system, memo 2, POP
                     "h\x00h\x01\x93"s + short_unicode("id") + "\x85R.";                  // via memo, called
  PickleScan ps = disassemble_pickle(framed(body));
  ASSERT_EQ(ps.globals.size(), 2u) << dump(ps);
  for (const auto& g : ps.globals) {
    EXPECT_EQ(g.qualified(), "os.system");
    EXPECT_EQ(g.opcode, "STACK_GLOBAL");
  }
  EXPECT_FALSE(ps.globals[0].called);
  EXPECT_TRUE(ps.globals[1].called);
  EXPECT_EQ(ps.protocol, 4);
  EXPECT_TRUE(ps.complete);
  EXPECT_TRUE(ps.anomalies.empty()) << dump(ps);
}

TEST(PrescanPickle, Protocol4NewobjAndBuildMarkCalls) {
  std::string body = short_unicode("collections") + short_unicode("OrderedDict") + "\x93)\x81" +  // NEWOBJ
                     short_unicode("mod") + short_unicode("Cls") + "\x93}b" + "\x86.";            // BUILD on a class
  PickleScan ps = disassemble_pickle(framed(body));
  ASSERT_EQ(ps.globals.size(), 2u) << dump(ps);
  EXPECT_TRUE(ps.globals[0].called);
  EXPECT_TRUE(ps.globals[1].called);
  EXPECT_TRUE(ps.complete) << dump(ps);
}

TEST(PrescanPickle, Protocol5ByteArrayAndStackGlobal) {
  std::string p = "\x80\x05"s + short_unicode("builtins") + short_unicode("eval") + "\x93" + short_unicode("1+1") +
                  "\x85R" + "\x96" + le(3, 8) + "abc" + "0." ;
  PickleScan ps = disassemble_pickle(p);
  ASSERT_EQ(ps.globals.size(), 1u) << dump(ps);
  EXPECT_EQ(ps.globals[0].qualified(), "builtins.eval");
  EXPECT_TRUE(ps.globals[0].called);
  EXPECT_EQ(ps.protocol, 5);
  EXPECT_TRUE(ps.complete) << dump(ps);
  EXPECT_EQ(ps.length, p.size());
}

TEST(PrescanPickle, UnknownMemoIndexBecomesUnknownGlobal) {
  PickleScan ps = disassemble_pickle("\x80\x04h\x07h\x08\x93."s);
  ASSERT_EQ(ps.globals.size(), 1u);
  EXPECT_EQ(ps.globals[0].module, "unknown");
  EXPECT_EQ(ps.globals[0].name, "unknown");
  EXPECT_TRUE(has_anomaly(ps, "memo index unknown")) << dump(ps);
}

TEST(PrescanPickle, TruncatedInsideGlobalLine) {
  PickleScan ps = disassemble_pickle("\x80\x02" "cos\nsys"s);
  EXPECT_FALSE(ps.complete);
  EXPECT_TRUE(ps.globals.empty());
  EXPECT_TRUE(has_anomaly(ps, "truncated at offset 2")) << dump(ps);
}

TEST(PrescanPickle, TruncatedWithoutStopKeepsGlobals) {
  PickleScan ps = disassemble_pickle("\x80\x04"s + short_unicode("os") + short_unicode("system") + "\x93");
  ASSERT_EQ(ps.globals.size(), 1u);
  EXPECT_FALSE(ps.complete);
  EXPECT_TRUE(has_anomaly(ps, "truncated at offset")) << dump(ps);
}

TEST(PrescanPickle, GarbageAfterStop) {
  PickleScan ps = disassemble_pickle("\x80\x02N.\xff\xfe"s);
  EXPECT_TRUE(ps.complete);
  EXPECT_EQ(ps.length, 4u);
  EXPECT_TRUE(has_anomaly(ps, "2 bytes after STOP")) << dump(ps);
  EXPECT_FALSE(has_anomaly(ps, "multiple pickles"));
}

TEST(PrescanPickle, SecondPickleAfterStopIsScanned) {
  PickleScan ps = disassemble_pickle("\x80\x02N.\x80\x02" "cos\nsystem\n."s);
  EXPECT_TRUE(has_anomaly(ps, "multiple pickles")) << dump(ps);
  ASSERT_EQ(ps.globals.size(), 1u);
  EXPECT_EQ(ps.globals[0].offset, 6u);
}

TEST(PrescanPickle, UnknownOpcode) {
  PickleScan ps = disassemble_pickle("\x80\x02\xff."s);
  EXPECT_FALSE(ps.complete);
  EXPECT_TRUE(has_anomaly(ps, "unknown opcode 0xff at 2")) << dump(ps);
}

TEST(PrescanPickle, HugeLengthFieldsInATinyFile) {
  for (std::string p : {"\x80\x04X\xff\xff\xff\xff" "ab"s, "\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff" "ab"s,
                        "\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f"s, "\x80\x02\x8b\xff\xff\xff\xff"s,
                        "\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xff" "N."s}) {
    PickleScan ps = disassemble_pickle(p);
    EXPECT_FALSE(ps.anomalies.empty());
    EXPECT_LE(ps.length, p.size());
  }
  PickleScan ps = disassemble_pickle("\x80\x04X\xff\xff\xff\xff" "ab"s);
  EXPECT_TRUE(has_anomaly(ps, "truncated at offset 2")) << dump(ps);
  EXPECT_TRUE(has_anomaly(ps, "4294967295")) << dump(ps);
}

TEST(PrescanPickle, StackUnderflowIsReportedNotFatal) {
  PickleScan ps = disassemble_pickle("\x80\x02R."s);
  EXPECT_TRUE(has_anomaly(ps, "stack underflow")) << dump(ps);
  EXPECT_TRUE(ps.complete);
}

TEST(PrescanPickle, BombsAreBoundedInTimeAndMemory) {
  // Billion-laughs style: one list DUPed three million times, then a MARK flood.
  std::string bomb = "\x80\x02]"s + std::string(3'000'000, '2') + std::string(3'000'000, '(') + ".";
  auto start = std::chrono::steady_clock::now();
  PickleScan ps = disassemble_pickle(bomb);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(ps.complete);
  EXPECT_TRUE(has_anomaly(ps, "simulation reset")) << dump(ps);
  EXPECT_LT(ms, 5000);
  // A long string DUPed a million times shares one copy (would be 1 GB otherwise).
  std::string dups = "\x80\x04"s + "X" + le(1000, 4) + std::string(1000, 'a') + std::string(1'000'000, '2') + ".";
  EXPECT_TRUE(disassemble_pickle(dups).complete);
  // Giant memo indices do not allocate.
  PickleScan memo = disassemble_pickle("\x80\x02Nr\xff\xff\xff\xffj\xff\xff\xff\xff."s);
  EXPECT_TRUE(memo.complete);
  EXPECT_FALSE(has_anomaly(memo, "memo index unknown")) << dump(memo);
}

TEST(PrescanPickle, PaddingCannotHideADangerousGlobal) {
  std::string p = "\x80\x02"s;
  for (int i = 0; i < 60000; ++i) p += "ccollections\nOrderedDict\n0";
  p += "cos\nsystem\n.";
  PickleScan ps = disassemble_pickle(p);
  EXPECT_TRUE(std::any_of(ps.globals.begin(), ps.globals.end(), [](const auto& g) { return g.qualified() == "os.system"; }));
}

TEST(PrescanPickle, EmptyInput) {
  PickleScan ps = disassemble_pickle("");
  EXPECT_FALSE(ps.complete);
  EXPECT_EQ(ps.length, 0u);
}
