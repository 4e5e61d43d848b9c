#pragma once
// One streamed gRPC call's bytes between the client's HTTP/2 stream (the gateway's server
// session) and the upstream's stream (a pooled client session), both on one worker thread.
// Each side drains what the other one fills and says how much it took, so each side opens its
// own peer's flow-control window only as far as bytes moved on: a reader that stalls stalls the
// writer at the other end, and a call holds at most about one stream window per direction.
// Internal to the data plane: h2_session.cpp, h2_upstream.cpp and data_plane.cpp.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/server/h2_session.hpp"

namespace gatedrill::gateway::h2 {

// The flow-control window per stream the gateway offers both its clients and its upstreams
// (SETTINGS_INITIAL_WINDOW_SIZE): what a streamed call may buffer per direction.
inline constexpr uint32_t kStreamWindow = 256 * 1024;
// Request bytes kept after they went upstream, so a call the upstream never processed
// (REFUSED_STREAM, above a GOAWAY's last-stream-id) can go once more; a call that sent more
// cannot.
inline constexpr size_t kReplayBytes = 64 * 1024;

class StreamPipe {
 public:
  // The server session's side (the client's stream).
  struct ClientEnd {
    virtual void response_ready() = 0;             // headers, DATA or the end to send
    virtual void request_taken(size_t bytes) = 0;  // went upstream: open the client's window
    virtual void reset(uint32_t h2_error) = 0;     // RST_STREAM the client's stream
   protected:
    ~ClientEnd() = default;
  };
  // The upstream call's side.
  struct UpstreamEnd {
    virtual void request_ready() = 0;               // DATA or the end to send upstream
    virtual void response_taken(size_t bytes) = 0;  // went to the client: open the upstream's
    virtual void client_gone() = 0;                 // the client reset its stream or left
    virtual void idle_expired() = 0;  // nothing moved on the client's stream: end the call
   protected:
    ~UpstreamEnd() = default;
  };

  void attach(ClientEnd* end) { client_ = end; }
  void attach(UpstreamEnd* end) { upstream_ = end; }
  void detach(const ClientEnd* end) {
    if (client_ == end) client_ = nullptr;
  }
  void detach(const UpstreamEnd* end) {
    if (upstream_ == end) upstream_ = nullptr;
  }

  // --- the request, client -> upstream ---
  void put_request(const char* data, size_t n);
  void end_request();
  // Copies up to `max` bytes to send upstream into `out`; `*end` when they are the last.
  size_t take_request(char* out, size_t max, bool* end);
  size_t request_available() const { return request_.size() - request_sent_; }
  // The client ended its stream without DATA (the upstream gets HEADERS with END_STREAM).
  bool empty_request() const { return request_end_ && request_.empty() && request_dropped_ == 0; }
  // Sends the request again from its first byte; false when more than kReplayBytes went.
  bool rewind_request();
  void no_replay();  // the upstream processed the call: what went can be dropped
  // Gives back the memory of each buffer that was all taken (and cannot be replayed): a
  // WebSocket quiet after a burst need not keep a window's worth per direction. What waits
  // stays. Not done at every drain: a flowing stream would give back and grow its buffers
  // over and over (a 1 MB burst on 1000 tunnels took 1.4-2x as long).
  void trim();
  // The memory the two buffers hold (tests).
  size_t buffer_capacity() const { return request_.capacity() + response_.capacity(); }

  // --- the response, upstream -> client ---
  // The response's head, ready for the client (the gateway's header edits done).
  void respond(Response head);
  bool responded() const { return responded_; }
  // The head, taken once by the client side when it submits it.
  std::optional<Response> take_head();
  void put_response(const char* data, size_t n);
  void end_response(HeaderList trailers);
  size_t take_response(char* out, size_t max, bool* end);
  // The response ended with its head: no DATA, no trailers (gRPC's trailers-only answer).
  bool head_only() const { return response_end_ && response_total_ == 0 && trailers_.empty(); }
  HeaderList take_trailers() { return std::move(trailers_); }
  // After the head went out: the upstream reset its stream (the client's is reset with the
  // same code), or the gateway ends the call with an error (trailers, when none were sent).
  void reset_client(uint32_t h2_error);
  bool fail(HeaderList trailers);  // false: the response had ended already

  // --- either side ---
  void client_gone();
  bool client_left() const { return client_gone_; }
  // The client's stream saw no frame either way for the stream idle timeout: the upstream's
  // stream is cancelled and the client, still there, gets grpc-status 4 (DEADLINE_EXCEEDED).
  void expire_idle();
  bool idle_expired() const { return idle_expired_; }

  uint64_t request_bytes() const { return request_total_; }
  uint64_t response_bytes() const { return response_total_; }
  // The upstream's grpc-status (its trailers, or a trailers-only head); -1 before its end.
  int grpc_status() const { return grpc_status_; }

 private:
  ClientEnd* client_ = nullptr;
  UpstreamEnd* upstream_ = nullptr;
  std::string request_;
  size_t request_sent_ = 0;       // offset in request_ of the next byte to send upstream
  uint64_t request_dropped_ = 0;  // bytes erased from the front of request_
  uint64_t request_acked_ = 0;    // bytes whose window the client got back (a replay resends them)
  bool request_end_ = false;
  bool replayable_ = true;
  uint64_t request_total_ = 0;
  std::optional<Response> head_;
  bool responded_ = false;
  std::string response_;
  size_t response_taken_ = 0;
  bool response_end_ = false;
  HeaderList trailers_;
  uint64_t response_total_ = 0;
  bool client_gone_ = false;
  bool idle_expired_ = false;
  int grpc_status_ = -1;
};

}  // namespace gatedrill::gateway::h2
