#include "probe/cli/cli.hpp"

int main(int argc, char** argv) { return reachprobe::cli::main(argc, argv); }
