#pragma once
// The Hugging Face Hub cache as huggingface_hub writes it:
//   <root>/models--org--name/{blobs/<hash>, refs/<name>, snapshots/<rev>/<file>}
// where each snapshot file is a relative symlink into the same repository's blobs/.
#include <filesystem>
#include <string>
#include <vector>

#include "verifier/inputs.h"

namespace modelvet {

// A cache root (holds models--* directories), a models--org--name directory, or a directory
// inside one (snapshots/, snapshots/<rev>/, …).
bool is_hf_cache(const std::filesystem::path& dir);

// Every file under the snapshots of the repositories in `dir`, sorted by reported name: a symlink
// is followed (its path kept, so the file keeps its name) only when it resolves (all links included) to a regular file directly in its own
// repository's blobs/; otherwise the entry carries `error` and is reported, not read. Identical
// blobs keep one shard key (models--org--name/blobs/<hash>) for all their revisions.
void walk_hf_cache(const std::filesystem::path& dir, std::vector<InputFile>& out, std::vector<std::string>* errors);

// models--org--name/snapshots/<rev>/<file> → hf://org/name@rev/file; other paths unchanged.
std::string hf_display(const std::string& path);

}  // namespace modelvet
