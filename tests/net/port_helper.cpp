// A second process for the port allocation tests: allocates COUNT ports, prints them one per
// line, then "ready", and keeps its reservations until its stdin closes.
//   net_port_helper COUNT
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/supervisor/free_port.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: net_port_helper COUNT\n");
    return 2;
  }
  for (int i = std::atoi(argv[1]); i > 0; --i) {
    auto port = gatedrill::allocate_port();
    if (!port.ok()) {
      std::fprintf(stderr, "%s\n", port.error().message.c_str());
      return 1;
    }
    std::printf("%u\n", static_cast<unsigned>(*port));
  }
  std::printf("ready\n");
  std::fflush(stdout);
  char byte;
  while (::read(STDIN_FILENO, &byte, 1) > 0) {
  }
  return 0;
}
