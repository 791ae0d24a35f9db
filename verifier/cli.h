#pragma once
namespace modelvet::cli {
// Parses argv (CLI11) and runs the subcommand; returns the process exit code (SPEC.md).
int main(int argc, char** argv);
}
