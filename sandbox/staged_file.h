#pragma once
// Writing the generated files a jail is staged with (the workstation's identity and buses).
#include <cstddef>
#include <filesystem>
#include <string>

namespace modelvet::sandbox {

// Writes text to path (parents created) with perms. Throws on a write failure.
void write_staged_file(const std::filesystem::path& path, const std::string& text,
                       std::filesystem::perms perms = std::filesystem::perms(0444));
// A symlink at path (parents created) to target. Throws on failure.
void write_staged_link(const std::filesystem::path& path, const std::string& target);

// n characters drawn from alphabet by getrandom: serials unique per jail.
std::string random_chars(size_t n, const char* alphabet);

}  // namespace modelvet::sandbox
