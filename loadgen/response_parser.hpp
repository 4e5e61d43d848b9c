#pragma once
// An incremental HTTP/1.1 response parser for the load loop: status, Content-Length, chunked
// bodies, read-until-close bodies and keep-alive vs close. It only skips body bytes (the load
// generator never keeps them) and allocates nothing.
#include <cstddef>
#include <string_view>

namespace gatedrill::loadgen {

class ResponseParser {
 public:
  enum class State {
    kHeaders,
    kBody,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kUntilClose,
    kDone,
    kError
  };

  // Starts a new response; head_request: the response has no body whatever its headers say.
  void reset(bool head_request = false);

  // Consumes a prefix of data and returns its length. Fewer bytes than given are consumed when
  // a line is incomplete (call again with those bytes plus more) or the response is done (the
  // rest belongs to the next response). Check done()/failed() after each call.
  size_t feed(std::string_view data);
  // The peer closed the connection: completes a read-until-close body, else a failure if the
  // response was not complete.
  void on_eof();

  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  State state() const { return state_; }
  int status() const { return status_; }
  // The connection must be closed after this response (Connection: close, HTTP/1.0, until-close
  // body).
  bool close_after() const { return close_; }
  const char* error() const { return error_; }

  // Header section larger than this is an error (the caller's buffer must hold a whole head).
  static constexpr size_t kMaxHeadBytes = 32 * 1024;

 private:
  size_t parse_head(std::string_view data);
  size_t head_incomplete(std::string_view data);  // 0, or a failure when it can never fit
  void fail(const char* why);

  State state_ = State::kHeaders;
  bool head_request_ = false;
  bool close_ = false;
  int status_ = 0;
  unsigned long long remaining_ = 0;
  const char* error_ = "";
};

}  // namespace gatedrill::loadgen
