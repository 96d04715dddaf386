#include "cli/cli.hpp"

int main(int argc, char** argv) { return portier::cli::run(argc, argv); }
