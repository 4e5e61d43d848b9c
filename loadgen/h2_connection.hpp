#pragma once
// The HTTP/2 side of one load generator connection (`--h2`): an nghttp2 client session fed and
// drained through memory buffers, so the event loop keeps doing the socket and TLS I/O itself.
// Streams are numbered by the caller's slots (0 .. max_streams-1); the session reports each
// slot's end. nghttp2 stays behind this header.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill::loadgen {

// The requests as HTTP/2 header lists, converted once from the pre-built HTTP/1.1 requests (so
// the path mix, tokens and headers are the same): request line -> :method/:path, Host ->
// :authority, header names lower-cased, connection-specific headers dropped, body kept.
class H2Requests {
 public:
  // Errors: "bad_options" when a request cannot be expressed in HTTP/2.
  static Result<std::shared_ptr<const H2Requests>> from_http1(const std::vector<std::string>& h1,
                                                              bool tls);
  ~H2Requests();
  size_t size() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit H2Requests(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class H2Connection {
 public:
  // Called once per stream end: the slot, the response :status (0 when none came) and whether
  // the stream ended cleanly (false: reset by the peer or a protocol error).
  using OnStreamEnd = void (*)(void* context, int slot, int status, bool ok);

  H2Connection(int max_streams, OnStreamEnd on_end, void* context);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Starts the session: the client preface and SETTINGS are queued for output.
  Result<void> start();
  // Streams that may be opened now (our limit and the server's SETTINGS_MAX_CONCURRENT_STREAMS).
  int capacity() const;
  int in_flight() const { return in_flight_; }
  // Queues request `index` on a new stream for `slot`. Errors: "h2" with nghttp2's reason.
  Result<void> submit(const H2Requests& requests, size_t index, int slot);
  // Resets the stream of `slot` (a timeout); its end is not reported.
  void cancel(int slot);
  // Feeds received bytes. Errors: "h2" (a protocol error: the connection is unusable).
  Result<void> receive(const char* data, size_t size);
  // The next bytes to send (empty when nothing is queued); valid until the next call.
  // Errors: "h2".
  Result<std::string_view> next_output();
  // The server sent GOAWAY or the session wants no more I/O: open a new connection.
  bool finished() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  int in_flight_ = 0;
  friend struct Impl;
};

}  // namespace gatedrill::loadgen
