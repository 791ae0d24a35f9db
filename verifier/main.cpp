#include "verifier/cli.h"

int main(int argc, char** argv) { return modelvet::cli::main(argc, argv); }
