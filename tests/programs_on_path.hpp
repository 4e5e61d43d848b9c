#pragma once
// Whether a program a test needs is installed: tests that need redis-server (or another peer
// binary) skip when it is not on PATH.
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace gatedrill::test {

// An executable file named `program` in one of PATH's directories.
inline bool on_path(std::string_view program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  const std::string_view dirs = path;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string_view::npos) end = dirs.size();
    const std::string file =
        std::string(dirs.substr(start, end - start)) + "/" + std::string(program);
    if (::access(file.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

inline bool redis_installed() {
  return on_path("redis-server");
}

}  // namespace gatedrill::test
