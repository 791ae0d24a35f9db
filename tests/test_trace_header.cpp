// The trace header is a typed contract: one to_json, one header_from_json, and a reader that
// refuses what the verdict cannot do without.
#include <gtest/gtest.h>

#include "trace/event.h"
#include "trace/header.h"

using namespace modelvet;

namespace {

TraceHeader sample_header() {
  TraceHeader h;
  h.sample = {"m.pkl", "ab12", 42, "pickle", "pickle"};
  h.run.ran = true;
  h.run.timed_out = true;
  h.run.timeout_ms = 30000;
  h.run.limits_hit = {"timeout"};
  h.run.harness_exit = -1;
  h.run.harness_end = "signal 9";
  h.run.unattributed_sessions = 1;
  h.run.timing_ms = {100, 12, 80, 4};
  h.run.memory_peak_bytes = 27u << 20;
  h.context.harness_pid = 4242;
  h.context.home = "/home/alice";
  h.context.model_path = "/model/m.pkl";
  h.context.decoy_secrets = {{"env HF_TOKEN", "hf_x"}};
  h.context.decoy_files = {"/home/alice/.aws/credentials"};
  h.context.exec_t_ns = 77;
  h.tracer = {"ebpf", 10, 2, {{"high", {{"dropped", 0}}}}};
  h.static_scan = {{"anomalies", nlohmann::json::array()}};
  return h;
}

std::string read_error(const nlohmann::json& j) {
  TraceHeader back;
  std::string error;
  EXPECT_FALSE(header_from_json(j, &back, &error)) << j.dump();
  return error;
}

}  // namespace

TEST(TraceHeader, RoundTripsEveryField) {
  TraceHeader h = sample_header();
  TraceHeader back;
  std::string error;
  ASSERT_TRUE(header_from_json(to_json(h), &back, &error)) << error;
  EXPECT_EQ(to_json(back), to_json(h));
  EXPECT_TRUE(back.run.timed_out);
  EXPECT_EQ(back.run.timeout_ms, 30000);
  EXPECT_EQ(back.context.decoy_secrets.at("env HF_TOKEN"), "hf_x");
  EXPECT_EQ(back.tracer.dropped, 2u);
  EXPECT_EQ(back.run.memory_peak_bytes, 27u << 20);
}

// Descriptive, not decided on: a trace written before the jail's memory was measured reads as 0;
// a value of the wrong type is still an error.
TEST(TraceHeader, MemoryPeakIsOptionalButTyped) {
  nlohmann::json j = to_json(sample_header());
  j["run"].erase("memory_peak_bytes");
  TraceHeader back;
  std::string error;
  ASSERT_TRUE(header_from_json(j, &back, &error)) << error;
  EXPECT_EQ(back.run.memory_peak_bytes, 0u);
  j["run"]["memory_peak_bytes"] = "27 MB";
  EXPECT_FALSE(header_from_json(j, &back, &error));
}

TEST(TraceHeader, AMissingFieldTheVerdictDependsOnIsAnError) {
  for (const char* key : {"timed_out", "timeout_ms", "ran", "harness_exit", "limits_hit"}) {
    nlohmann::json j = to_json(sample_header());
    j["run"].erase(key);
    EXPECT_NE(read_error(j).find(std::string("run: missing ") + key), std::string::npos) << key;
  }
  for (const char* key : {"harness_pid", "decoy_secrets", "exec_t_ns"}) {
    nlohmann::json j = to_json(sample_header());
    j["context"].erase(key);
    EXPECT_NE(read_error(j).find(std::string("context: missing ") + key), std::string::npos) << key;
  }
  nlohmann::json j = to_json(sample_header());
  j.erase("run");
  EXPECT_NE(read_error(j).find("missing run"), std::string::npos);
}

TEST(TraceHeader, AnUnknownOrMisspelledFieldIsAnError) {
  nlohmann::json j = to_json(sample_header());
  j["run"]["timed_uot"] = j["run"]["timed_out"];
  j["run"].erase("timed_out");
  EXPECT_NE(read_error(j).find("missing timed_out"), std::string::npos);
  j = to_json(sample_header());
  j["context"]["harnes_pid"] = 1;
  EXPECT_NE(read_error(j).find("context: unknown field harnes_pid"), std::string::npos);
  j = to_json(sample_header());
  j["extra_block"] = nlohmann::json::object();
  EXPECT_NE(read_error(j).find("unknown field extra_block"), std::string::npos);
}

TEST(TraceHeader, WrongTypesAndNullsAreErrorsNotDefaults) {
  nlohmann::json j = to_json(sample_header());
  j["run"]["timed_out"] = "false";
  EXPECT_NE(read_error(j).find("timed_out has the wrong type"), std::string::npos);
  j = to_json(sample_header());
  j["context"]["decoy_secrets"] = {{"env X", nullptr}};
  EXPECT_NE(read_error(j).find("decoy_secrets"), std::string::npos);
  j = to_json(sample_header());
  j["context"]["decoy_files"] = {1, nullptr};
  EXPECT_NE(read_error(j).find("decoy_files"), std::string::npos);
  j = to_json(sample_header());
  j["run"]["ran"] = nullptr;
  EXPECT_NE(read_error(j).find("ran has the wrong type"), std::string::npos);
  EXPECT_NE(read_error(nlohmann::json::array()).find("not an object"), std::string::npos);
}

TEST(TraceHeader, AnotherFormatVersionIsRefusedByName) {
  nlohmann::json j = to_json(sample_header());
  j["modelvet_trace"] = 1;
  EXPECT_NE(read_error(j).find("format 1"), std::string::npos);
}

TEST(TraceEvents, UnknownKindsAndSourcesAreErrorsWhenRead) {
  Event e;
  std::string error;
  EXPECT_TRUE(read_event({{"t_ns", 1}, {"source", "kernel"}, {"kind", "exec"}, {"pid", 3}}, &e, &error)) << error;
  EXPECT_FALSE(read_event({{"t_ns", 1}, {"source", "kernel"}, {"kind", "net_redirct"}, {"pid", 3}}, &e, &error));
  EXPECT_NE(error.find("unknown kernel event kind \"net_redirct\""), std::string::npos) << error;
  EXPECT_FALSE(read_event({{"t_ns", 1}, {"source", "kernal"}, {"kind", "exec"}, {"pid", 3}}, &e, &error));
  EXPECT_FALSE(read_event({{"t_ns", 1}, {"source", "python"}, {"kind", "exec"}, {"pid", 3}}, &e, &error));
  EXPECT_FALSE(read_event({{"source", "kernel"}, {"kind", "exec"}, {"pid", 3}}, &e, &error));
  EXPECT_FALSE(read_event({{"t_ns", 1}, {"source", "kernel"}, {"kind", "exec"}}, &e, &error));
}
