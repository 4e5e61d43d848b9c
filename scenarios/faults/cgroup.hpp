#pragma once
// Cgroups the fault injectors create for one child process. Only at a controller's root, under
// a "gatedrill-<pid>-<n>" name, never inside the cgroup the caller itself runs in; removed when
// the fault clears.
#include <sys/types.h>

#include <memory>
#include <string>

#include "core/util/result.hpp"

namespace gatedrill {

enum class CgroupLayout {
  kNone,  // no cgroup filesystem mounted at the root
  kV1,    // one hierarchy per controller: <root>/cpu, <root>/memory (also the "hybrid" layout)
  kV2,    // the unified hierarchy at <root>
};

const char* layout_name(CgroupLayout layout);

// By the filesystem type at `root` (statfs): cgroup2fs -> v2, tmpfs -> v1/hybrid.
CgroupLayout detect_cgroup_layout(const std::string& root = "/sys/fs/cgroup");

class Cgroup {
 public:
  // Makes <root>/<controller>/gatedrill-<pid>-<n> (v1) or <root>/gatedrill-<pid>-<n> (v2, the
  // controller must already be enabled in the root's cgroup.subtree_control: we do not change
  // the root). Errors: "cgroup_unavailable" naming the path and the reason.
  static Result<std::unique_ptr<Cgroup>> create(const std::string& root, CgroupLayout layout,
                                                const std::string& controller);
  ~Cgroup();  // remove(), errors ignored
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  // Errors: "cgroup_write" / "cgroup_read" naming the file and errno.
  Result<void> write(const std::string& file, const std::string& value);
  Result<std::string> read(const std::string& file) const;
  // Moves the whole process (all its threads) in.
  Result<void> add(pid_t pid);
  // Moves any process still inside back to the controller's root cgroup, then deletes the
  // directory. Idempotent. Errors: "cgroup_remove".
  Result<void> remove();

  const std::string& path() const { return path_; }
  CgroupLayout layout() const { return layout_; }

 private:
  Cgroup(std::string path, std::string parent, CgroupLayout layout)
      : path_(std::move(path)), parent_(std::move(parent)), layout_(layout) {}

  std::string path_;
  std::string parent_;  // the controller root, where processes go back on remove()
  CgroupLayout layout_;
  bool removed_ = false;
};

}  // namespace gatedrill
