#pragma once
// Free TCP ports on 127.0.0.1 for the children of a run, which bind them a moment later.
//
// A port found free by bind(0) is in the kernel's ephemeral range, where other tests' bind(0)
// and every outgoing connect() draw too: between our check and the child's bind another process
// could take it ("Address already in use" in a drill under ctest -j2). So ports come from below
// the ephemeral range, where the kernel never assigns one, and each is reserved against the
// other gatedrill processes on this machine with a lock on one byte of a shared lock file (the
// byte's offset is the port), held while this process lives (up to kMaxReservedPorts).
#include <cstdint>

#include "core/util/result.hpp"

namespace gatedrill {

inline constexpr uint16_t kLowestAllocatedPort = 10000;
inline constexpr size_t kMaxReservedPorts = 4096;

// A port that nothing is bound to and no other gatedrill process has handed out, and that this
// process has not handed out among its last kMaxReservedPorts. Falls back to bind(0) when the
// ephemeral range leaves no room below it. Errors: "no_free_port".
Result<uint16_t> allocate_port();

}  // namespace gatedrill
