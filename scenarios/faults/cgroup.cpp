#include "scenarios/faults/cgroup.hpp"

#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace gatedrill {

namespace {

constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC
constexpr long kTmpfsMagic = 0x01021994;    // TMPFS_MAGIC
constexpr long kCgroup1Magic = 0x27e0eb;    // CGROUP_SUPER_MAGIC (a bare v1 mount at root)

std::string errno_text() {
  return std::strerror(errno);
}

bool contains_word(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    if (w == word) return true;
  }
  return false;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("cgroup_read", "cannot read " + path + ": " + errno_text());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Sysfs-style write: one write() call, so the kernel's verdict (EINVAL, EBUSY ...) surfaces.
Result<void> write_file(const std::string& path, const std::string& value) {
  FILE* f = std::fopen(path.c_str(), "we");
  if (f == nullptr) return make_error("cgroup_write", "cannot open " + path + ": " + errno_text());
  bool ok = std::fwrite(value.data(), 1, value.size(), f) == value.size();
  ok = (std::fflush(f) == 0) && ok;
  int saved = errno;
  std::fclose(f);
  if (!ok) {
    return make_error("cgroup_write",
                      "writing '" + value + "' to " + path + ": " + std::strerror(saved));
  }
  return {};
}

// Unique within the process: the pid tells processes apart, this counter cgroups within one.
int next_cgroup_number() {
  static std::atomic<int> counter{0};
  return ++counter;
}

}  // namespace

const char* layout_name(CgroupLayout layout) {
  switch (layout) {
    case CgroupLayout::kNone:
      return "none";
    case CgroupLayout::kV1:
      return "v1";
    case CgroupLayout::kV2:
      return "v2";
  }
  return "none";
}

CgroupLayout detect_cgroup_layout(const std::string& root) {
  struct statfs fs {};
  if (::statfs(root.c_str(), &fs) != 0) return CgroupLayout::kNone;
  const long type = static_cast<long>(fs.f_type);
  if (type == kCgroup2Magic) return CgroupLayout::kV2;
  if (type == kTmpfsMagic || type == kCgroup1Magic) return CgroupLayout::kV1;
  return CgroupLayout::kNone;
}

Result<std::unique_ptr<Cgroup>> Cgroup::create(const std::string& root, CgroupLayout layout,
                                               const std::string& controller) {
  std::string parent;
  if (layout == CgroupLayout::kV1) {
    parent = root + "/" + controller;
    if (::access((parent + "/cgroup.procs").c_str(), W_OK) != 0) {
      return make_error("cgroup_unavailable",
                        "no writable cgroup v1 '" + controller + "' hierarchy at " + parent);
    }
  } else if (layout == CgroupLayout::kV2) {
    parent = root;
    auto enabled = read_file(root + "/cgroup.subtree_control");
    if (!enabled || !contains_word(*enabled, controller)) {
      return make_error("cgroup_unavailable", "the '" + controller +
                                                  "' controller is not enabled for children of " +
                                                  root + " (cgroup.subtree_control)");
    }
  } else {
    return make_error("cgroup_unavailable", "no cgroup filesystem at " + root);
  }
  const std::string path = parent + "/gatedrill-" + std::to_string(::getpid()) + "-" +
                           std::to_string(next_cgroup_number());
  if (::mkdir(path.c_str(), 0755) != 0) {
    return make_error("cgroup_unavailable", "cannot create " + path + ": " + errno_text());
  }
  return std::unique_ptr<Cgroup>(new Cgroup(path, parent, layout));
}

Cgroup::~Cgroup() {
  (void)remove();
}

Result<void> Cgroup::write(const std::string& file, const std::string& value) {
  return write_file(path_ + "/" + file, value);
}

Result<std::string> Cgroup::read(const std::string& file) const {
  return read_file(path_ + "/" + file);
}

Result<void> Cgroup::add(pid_t pid) {
  return write("cgroup.procs", std::to_string(pid));
}

Result<void> Cgroup::remove() {
  if (removed_) return {};
  auto procs = read("cgroup.procs");
  if (procs) {
    std::istringstream in(*procs);
    std::string pid;
    while (in >> pid) {
      // A process that exited meanwhile fails with ESRCH; rmdir below tells if any is left.
      (void)write_file(parent_ + "/cgroup.procs", pid);
    }
  }
  if (::rmdir(path_.c_str()) != 0 && errno != ENOENT) {
    return make_error("cgroup_remove", "cannot remove " + path_ + ": " + errno_text());
  }
  removed_ = true;
  return {};
}

}  // namespace gatedrill
