#pragma once
// Toxics of the fault proxy, modelled on Toxiproxy: each one changes the bytes flowing in one
// direction of a proxied connection. This part is pure (no sockets, no clock): given the
// toxics active now and a chunk just read, plan_chunk() says what to write, after which delays,
// and what to do next. The proxy re-plans whenever toxics change, so they can be added and
// removed while connections are open.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "core/util/result.hpp"

namespace gatedrill {

// upstream: client -> server; downstream: server -> client (Toxiproxy's names).
enum class Stream { kUpstream, kDownstream };

struct Toxic {
  std::string name;  // unique per proxy; default "<type>_<stream>"
  std::string type;  // latency, bandwidth, slow_close, timeout, reset_peer, slicer,
                     // limit_data, mtu_blackhole
  Stream stream = Stream::kDownstream;
  double toxicity = 1.0;           // probability that a connection is affected
  boost::json::object attributes;  // as given (with defaults filled in), for listing
  uint64_t id = 0;                 // set by the proxy; distinguishes re-added toxics

  // Attributes by type (milliseconds unless named otherwise).
  int64_t latency = 0, jitter = 0;               // latency
  int64_t rate = 0;                              // bandwidth, KB/s
  int64_t delay = 0;                             // slow_close
  int64_t timeout = 0;                           // timeout, reset_peer
  int64_t average_size = 0, size_variation = 0;  // slicer, bytes
  int64_t delay_us = 0;                          //   ... between slices
  int64_t bytes = 0;                             // limit_data
  int64_t mtu = 0;                               // mtu_blackhole, bytes
};

const std::vector<std::string>& toxic_types();
const char* stream_name(Stream stream);

// From the API body {"name","type","stream","toxicity","attributes":{...}}. Errors:
// "bad_toxic" with a specific message ("unknown toxic type 'lag'; known: ...",
// "attributes.latency must be >= 0").
Result<Toxic> parse_toxic(const boost::json::object& body);
boost::json::object toxic_to_json(const Toxic& toxic);

// Per connection and direction: what the toxics remember between chunks.
struct DirectionState {
  explicit DirectionState(uint64_t seed) : rng(seed) {}
  std::mt19937_64 rng;
  std::map<uint64_t, bool> affected;  // toxic id -> this connection drew "toxic" for it
  int64_t forwarded = 0;              // bytes written in this direction so far
  int64_t exchange = 0;               // bytes since the other direction last sent (MTU)
};

struct Piece {
  std::string data;
  std::chrono::microseconds delay{0};  // wait this long before writing the piece
};

struct ChunkPlan {
  enum class Action {
    kForward,  // write `pieces` in order, each after its delay
    kDrop,     // swallow the chunk, keep reading
    kHold,     // keep the chunk and wait until the toxics change, then plan it again
  };
  enum class Then { kContinue, kClose, kReset };
  Action action = Action::kForward;
  std::vector<Piece> pieces;
  Then then = Then::kContinue;  // after the pieces (or at once for a drop)
  std::chrono::microseconds then_delay{0};
  // kDrop by a timeout toxic with timeout > 0: close the connection this long after.
  std::optional<std::chrono::milliseconds> close_after;
};

// Whether `toxic` affects this connection: drawn once per connection and toxic.
bool affects(const Toxic& toxic, DirectionState& state);

// Plans one chunk through `toxics` (in the order they were added; only this direction's).
// Updates state.forwarded and state.exchange for what it forwards.
ChunkPlan plan_chunk(std::string chunk, const std::vector<Toxic>& toxics, DirectionState& state);

// How long to wait before passing on an end of stream (slow_close).
std::chrono::microseconds close_delay(const std::vector<Toxic>& toxics, DirectionState& state);

}  // namespace gatedrill
