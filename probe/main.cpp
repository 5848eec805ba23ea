#include <iostream>

#include "reachprobe/version.hpp"

int main() {
  std::cout << "reachprobe " << reachprobe::kVersion << "\n";
  return 0;
}
