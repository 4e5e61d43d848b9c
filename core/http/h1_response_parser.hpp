#pragma once
// An incremental HTTP/1.1 response parser: one pass over the head (header names compared eight
// bytes at a time, every byte checked against the field grammar), then Content-Length, chunked
// and read-until-close bodies, interim 1xx responses skipped, keep-alive vs close. The load
// generator only skips the body and allocates nothing; the gateway keeps the body (chunks
// decoded) and the head's fields as offsets into the head, so it can copy the head's bytes
// minus the fields it drops. No Beast or Asio here.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatedrill {

class H1ResponseParser {
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

  // One header field of the final head: offsets from the head's first byte (head_offset()).
  // The value is trimmed of optional whitespace; `line_size` runs from the name to the CRLF
  // included.
  struct Field {
    uint32_t name_offset;
    uint32_t name_size;
    uint32_t value_offset;
    uint32_t value_size;
    uint32_t line_size;
  };

  struct Limits {
    size_t max_head_bytes = 32 * 1024;     // status line, fields and the empty line
    uint64_t max_body_bytes = UINT64_MAX;  // decoded body (Content-Length, chunks)
    bool keep_fields = false;              // record fields()
  };

  H1ResponseParser() = default;
  explicit H1ResponseParser(Limits limits) : limits_(limits) {}
  void set_limits(Limits limits) { limits_ = limits; }

  // Starts a new response; head_request: the response has no body whatever its headers say.
  void reset(bool head_request = false);

  // Consumes a prefix of data and returns its length. Fewer bytes than given are consumed when
  // a line is incomplete (call again with those bytes plus more) or the response is done (the
  // rest belongs to the next response). Check done()/failed() after each call. With `body`, the
  // body's bytes (chunks decoded) are appended to it.
  size_t feed(std::string_view data, std::string* body = nullptr);
  // The peer closed the connection: completes a read-until-close body, else a failure if the
  // response was not complete.
  void on_eof();

  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  // The final (non-1xx) head has been parsed: status() and the head accessors are valid.
  bool head_done() const { return state_ != State::kHeaders && state_ != State::kError; }
  State state() const { return state_; }
  int status() const { return status_; }
  // The connection must be closed after this response (Connection: close, HTTP/1.0, until-close
  // body).
  bool close_after() const { return close_; }
  const char* error() const { return error_; }

  // Where the final head sits in the `data` of the feed() call that completed it (valid while
  // the caller has not moved those bytes), and its size (up to the empty line's CRLF included).
  size_t head_offset() const { return head_offset_; }
  size_t head_size() const { return head_size_; }
  // The status line's length, CRLF excluded (its reason phrase ends there).
  size_t status_line_size() const { return status_line_size_; }
  bool http10() const { return http10_; }
  bool has_content_length() const { return has_length_; }
  uint64_t content_length() const { return length_; }
  bool chunked() const { return chunked_; }
  // With Limits::keep_fields: the final head's fields in order; take_fields() moves them out.
  const std::vector<Field>& fields() const { return fields_; }
  std::vector<Field> take_fields() { return std::move(fields_); }

  static constexpr size_t kMaxHeadBytes = 32 * 1024;  // the default Limits::max_head_bytes

 private:
  size_t parse_head(std::string_view data);
  size_t head_incomplete(std::string_view data);  // 0, or a failure when it can never fit
  bool take_body(uint64_t bytes);                 // false (failed) past the body limit
  // Up to remaining_ bytes of `rest` into `body` (when kept): the bytes used; `next` once none
  // remain.
  size_t take_remaining(std::string_view rest, std::string* body, State next);
  void fail(const char* why);

  Limits limits_;
  State state_ = State::kHeaders;
  bool head_request_ = false;
  bool close_ = false;
  bool http10_ = false;
  bool has_length_ = false;
  bool chunked_ = false;
  int status_ = 0;
  unsigned long long remaining_ = 0;
  uint64_t length_ = 0;
  uint64_t body_bytes_ = 0;
  size_t head_offset_ = 0;
  size_t head_size_ = 0;
  size_t status_line_size_ = 0;
  const char* error_ = "";
  std::vector<Field> fields_;
};

// ASCII case-insensitive equality of `text` with a lower-case literal, eight bytes per step.
bool equals_lower(std::string_view text, std::string_view lower);

}  // namespace gatedrill
