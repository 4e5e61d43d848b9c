#include "gateway/server/stream_pipe.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace gatedrill::gateway::h2 {

namespace {

// A grpc-status value; -1 when empty or not a number.
int parse_grpc_status(std::string_view value) {
  if (value.empty() || value.size() > 4) return -1;
  int status = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return -1;
    status = status * 10 + (c - '0');
  }
  return status;
}

// Drops the consumed front of a buffer once it is all consumed or large, so a long stream
// copies each byte about once more at most. The buffer keeps its capacity for what follows.
void compact(std::string& buffer, size_t& taken, uint64_t* dropped = nullptr) {
  if (taken == 0) return;
  if (taken == buffer.size() || taken >= 64 * 1024) {
    if (dropped) *dropped += taken;
    buffer.erase(0, taken);
    taken = 0;
  }
}

}  // namespace

void StreamPipe::put_request(const char* data, size_t n) {
  request_.append(data, n);
  request_total_ += n;
  if (upstream_) upstream_->request_ready();
}

void StreamPipe::end_request() {
  request_end_ = true;
  if (upstream_) upstream_->request_ready();
}

size_t StreamPipe::take_request(char* out, size_t max, bool* end) {
  const size_t n = std::min(max, request_.size() - request_sent_);
  if (n > 0) std::memcpy(out, request_.data() + request_sent_, n);
  request_sent_ += n;
  *end = request_end_ && request_sent_ == request_.size();
  const uint64_t sent = request_dropped_ + request_sent_;
  if (sent > kReplayBytes) replayable_ = false;
  if (!replayable_) compact(request_, request_sent_, &request_dropped_);
  if (sent > request_acked_) {
    const uint64_t opened = sent - request_acked_;
    request_acked_ = sent;
    if (client_) client_->request_taken(static_cast<size_t>(opened));
  }
  return n;
}

bool StreamPipe::rewind_request() {
  if (!replayable_ || request_dropped_ > 0) return false;
  request_sent_ = 0;
  return true;
}

void StreamPipe::no_replay() {
  replayable_ = false;
  compact(request_, request_sent_, &request_dropped_);
}

void StreamPipe::trim() {
  if (!replayable_ && request_sent_ == request_.size()) {
    request_dropped_ += request_sent_;
    std::string().swap(request_);
    request_sent_ = 0;
  }
  if (response_taken_ == response_.size()) {
    std::string().swap(response_);
    response_taken_ = 0;
  }
}

void StreamPipe::respond(Response head) {
  grpc_status_ = parse_grpc_status(head["grpc-status"]);
  head_ = std::move(head);
  responded_ = true;
  if (client_) client_->response_ready();
}

std::optional<Response> StreamPipe::take_head() {
  std::optional<Response> out = std::move(head_);
  head_.reset();
  return out;
}

void StreamPipe::put_response(const char* data, size_t n) {
  response_.append(data, n);
  response_total_ += n;
  if (client_ && responded_) client_->response_ready();
}

void StreamPipe::end_response(HeaderList trailers) {
  if (response_end_) return;
  response_end_ = true;
  for (const auto& [name, value] : trailers)
    if (name == "grpc-status") grpc_status_ = parse_grpc_status(value);
  trailers_ = std::move(trailers);
  if (client_ && responded_) client_->response_ready();
}

size_t StreamPipe::take_response(char* out, size_t max, bool* end) {
  const size_t n = std::min(max, response_.size() - response_taken_);
  if (n > 0) std::memcpy(out, response_.data() + response_taken_, n);
  response_taken_ += n;
  *end = response_end_ && response_taken_ == response_.size();
  compact(response_, response_taken_);
  if (n > 0 && upstream_) upstream_->response_taken(n);
  return n;
}

void StreamPipe::reset_client(uint32_t h2_error) {
  response_end_ = true;
  if (client_) client_->reset(h2_error);
}

bool StreamPipe::fail(HeaderList trailers) {
  if (response_end_) return false;
  end_response(std::move(trailers));
  return true;
}

void StreamPipe::client_gone() {
  if (client_gone_) return;
  client_gone_ = true;
  client_ = nullptr;
  if (upstream_) upstream_->client_gone();
}

void StreamPipe::expire_idle() {
  if (idle_expired_ || client_gone_) return;
  idle_expired_ = true;
  if (upstream_) upstream_->idle_expired();
}

}  // namespace gatedrill::gateway::h2
