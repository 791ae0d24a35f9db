// scanner_flags(): picklescan's and modelscan's published lists with their own matching rules.
#include <gtest/gtest.h>

#include <map>

#include "prescan/prescan.h"

using modelvet::prescan::GlobalRef;
using modelvet::prescan::scanner_flags;

namespace {

// scanner -> severity for module.name, for picklescan and modelscan (fickling has its own test)
std::map<std::string, std::string> flags_of(const std::string& module, const std::string& name,
                                            bool with_fickling = false) {
  GlobalRef g;
  g.module = module;
  g.name = name;
  std::map<std::string, std::string> out;
  for (const auto& f : scanner_flags(g)) {
    if (f.scanner == "fickling" && !with_fickling) continue;
    EXPECT_EQ(f.global, module + "." + name);
    out[f.scanner] = f.severity;
  }
  return out;
}

using Flags = std::map<std::string, std::string>;

}  // namespace

TEST(PrescanScanners, BuiltinsCallablesAreDangerousForBoth) {
  for (const char* module : {"builtins", "__builtin__"})
    for (const char* name : {"eval", "exec", "getattr", "compile", "open"})
      EXPECT_EQ(flags_of(module, name), (Flags{{"picklescan", "dangerous"}, {"modelscan", "dangerous"}})) << module << name;
}

TEST(PrescanScanners, ListsDifferBetweenScanners) {
  // __import__ is only on modelscan's list; picklescan calls any unlisted global suspicious.
  EXPECT_EQ(flags_of("builtins", "__import__"), (Flags{{"picklescan", "suspicious"}, {"modelscan", "dangerous"}}));
  // picklescan lists functools.partial, ctypes, operator.itemgetter; modelscan does not.
  EXPECT_EQ(flags_of("functools", "partial"), (Flags{{"picklescan", "dangerous"}}));
  EXPECT_EQ(flags_of("ctypes", "CDLL"), (Flags{{"picklescan", "dangerous"}}));
  EXPECT_EQ(flags_of("operator", "itemgetter"), (Flags{{"picklescan", "dangerous"}}));
  EXPECT_EQ(flags_of("webbrowser", "open"), (Flags{{"picklescan", "dangerous"}, {"modelscan", "dangerous"}}));
}

TEST(PrescanScanners, ModuleMatchingRules) {
  // picklescan: a "*" parent covers submodules; modelscan matches the module exactly.
  EXPECT_EQ(flags_of("os.path", "join"), (Flags{{"picklescan", "dangerous"}}));
  EXPECT_EQ(flags_of("os", "system"), (Flags{{"picklescan", "dangerous"}, {"modelscan", "dangerous"}}));
  EXPECT_EQ(flags_of("posix", "system"), (Flags{{"picklescan", "dangerous"}, {"modelscan", "dangerous"}}));
  // modelscan matches names by substring: anything containing "attrgetter".
  EXPECT_EQ(flags_of("operator", "my_attrgetter_x"), (Flags{{"picklescan", "suspicious"}, {"modelscan", "dangerous"}}));
}

TEST(PrescanScanners, SafeAndUnlistedGlobals) {
  EXPECT_TRUE(flags_of("torch._utils", "_rebuild_tensor_v2").empty());
  EXPECT_TRUE(flags_of("collections", "OrderedDict").empty());
  EXPECT_EQ(flags_of("torch._utils", "_rebuild_parameter"), (Flags{{"picklescan", "suspicious"}}));
  EXPECT_EQ(flags_of("sklearn.linear_model", "LogisticRegression"), (Flags{{"picklescan", "suspicious"}}));
}

TEST(PrescanScanners, UnresolvedOperandsAreDangerous) {
  EXPECT_EQ(flags_of("unknown", "unknown"), (Flags{{"picklescan", "dangerous"}, {"modelscan", "dangerous"}}));
  EXPECT_EQ(flags_of("collections", "unknown"), (Flags{{"picklescan", "dangerous"}, {"modelscan", "dangerous"}}));
}

TEST(PrescanScanners, FicklingJudgesTopLevelModulesAndAllowsOnlySafeBuiltins) {
  EXPECT_EQ(flags_of("os", "system", true).at("fickling"), "dangerous");
  EXPECT_EQ(flags_of("subprocess", "Popen", true).at("fickling"), "dangerous");
  EXPECT_EQ(flags_of("urllib.request", "urlopen", true).at("fickling"), "dangerous");  // top-level "urllib"
  EXPECT_EQ(flags_of("builtins", "getattr", true).at("fickling"), "dangerous");
  EXPECT_EQ(flags_of("joblib.numpy_pickle", "NumpyArrayWrapper", true).at("fickling"), "dangerous");
  EXPECT_EQ(flags_of("builtins", "set", true).count("fickling"), 0u);
  EXPECT_EQ(flags_of("collections", "OrderedDict", true).count("fickling"), 0u);
  EXPECT_EQ(flags_of("torch._utils", "_rebuild_tensor_v2", true).count("fickling"), 0u);
}
