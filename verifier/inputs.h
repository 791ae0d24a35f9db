#pragma once
// Expands what the user named into the list of files to verify.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelvet {

struct InputFile {
  InputFile() = default;
  InputFile(std::string p, std::string d, nlohmann::json pr = nullptr)
      : path(std::move(p)), display(std::move(d)), prior(std::move(pr)) {}
  std::string path;      // where to read it (for a Hub snapshot file: the blob it links to)
  std::string display;   // how to report it (hf://org/name@rev/file for a Hugging Face cache)
  nlohmann::json prior;  // what another scanner said of it (Hub securityFileStatus, modelscan, picklescan), or null
  std::string key;       // what --shard slices on: the blob (models--org--name/blobs/<hash>) for a Hub file, else display
  std::string error;     // set: reported as an `error` result without detonating (a link escaping blobs/)
  bool walked = false;   // found by a directory walk (non-model files are skipped), not named explicitly
  const std::string& shard_key() const { return key.empty() ? display : key; }
};

// What expansion and filtering left out, for the batch summary.
struct ExpandStats {
  size_t named = 0;                        // files the inputs expanded to (before anything is left out)
  size_t non_model = 0;                    // walked files skipped as not model files (by content)
  std::map<std::string, size_t> non_model_by_reason;  // "text", "safetensors", "onnx external data", "empty", …
  size_t duplicate_paths = 0;              // the same reported path named more than once (merged)
};

// scan: files as given, directories walked (sorted, symlinks not followed).
std::vector<InputFile> expand_paths(const std::vector<std::string>& paths, std::vector<std::string>* errors);

// batch: also manifests (.jsonl / .txt), Hugging Face cache roots (snapshot symlinks followed into
// the repository's own blobs/ only), picklescan output, modelscan reports and Hub paths-info/tree
// JSON (only files the Hub marks unsafe/suspicious). The same reported path named twice is kept
// once (priors merged). Nothing is sniffed yet: see skip_non_models.
std::vector<InputFile> expand_batch_raw(const std::vector<std::string>& inputs, std::vector<std::string>* errors,
                                        ExpandStats* stats);
// Drops walked files whose content is not a model (configs, tokenizers, READMEs, safetensors…):
// decided by content (prescan's sniff); the extension only keeps an unrecognised file that claims
// to be a model (.bin, .pt, .pkl…) so that it is reported, not hidden.
void skip_non_models(std::vector<InputFile>& files, ExpandStats* stats);
// Why a file is not a model ("text", "safetensors", "gguf", "empty", "data"), or "" when it may be one.
std::string non_model_reason(const std::string& path);
// expand_batch_raw + skip_non_models.
std::vector<InputFile> expand_batch_inputs(const std::vector<std::string>& inputs, std::vector<std::string>* errors,
                                           ExpandStats* stats = nullptr);

// Files with the same content are detonated once: groups of input indices, in input order, the
// first of each group the one to verify. Same real path (Hub revisions sharing a blob) first, then
// same size and sha256 (only files whose sizes collide are hashed).
std::vector<std::vector<size_t>> group_by_content(const std::vector<InputFile>& files);

// Merges two priors for the same file (modelscan lists one issue per global): the higher severity
// is kept, with the number of mentions.
nlohmann::json merge_priors(const nlohmann::json& a, const nlohmann::json& b);

// "K/N" → (K, N), 1-based K. "auto": from the scheduler (see SPEC.md: JOB_COMPLETION_INDEX from 0
// with JOB_COMPLETIONS; SLURM_ARRAY_TASK_ID from SLURM_ARRAY_TASK_MIN with SLURM_ARRAY_TASK_COUNT;
// MODELVET_SHARDS overrides the count). Out of range is an error naming the variables.
bool parse_shard(const std::string& spec, int* k, int* n, std::string* error);
bool in_shard(const std::string& key, int k, int n);

}  // namespace modelvet
