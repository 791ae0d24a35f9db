#pragma once
// Expands what the user named into the list of files to verify.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelvet {

struct InputFile {
  std::string path;      // where to read it
  std::string display;   // how to report it (hf://org/name@rev/file for a Hugging Face cache)
  nlohmann::json prior;  // what another scanner said of it (Hub securityFileStatus), or null
};

// scan: files as given, directories walked (sorted, symlinks not followed).
std::vector<InputFile> expand_paths(const std::vector<std::string>& paths, std::vector<std::string>* errors);
// batch: also manifests (.jsonl / .txt), Hugging Face cache roots, picklescan/modelscan reports
// and Hub paths-info/tree JSON (only files the Hub marks unsafe/suspicious).
std::vector<InputFile> expand_batch_inputs(const std::vector<std::string>& inputs, std::vector<std::string>* errors);

// "K/N" → (K, N), 1-based K; from JOB_COMPLETION_INDEX/SLURM_ARRAY_TASK_ID when spec is "auto".
bool parse_shard(const std::string& spec, int* k, int* n, std::string* error);
bool in_shard(const std::string& path, int k, int n);

}  // namespace modelvet
