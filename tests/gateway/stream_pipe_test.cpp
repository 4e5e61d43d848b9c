// StreamPipe's buffers: a trim (a WebSocket quiet after a burst) gives back the memory of what
// was all taken and keeps what waits; without one the buffers keep their capacity.
#include "gateway/server/stream_pipe.hpp"

#include <string>

#include <gtest/gtest.h>

namespace gatedrill::gateway::h2 {
namespace {

// What the two buffers hold when empty and given back (the strings' inline capacity).
const size_t kEmpty = 2 * std::string().capacity();

// Moves a window's worth each way through `pipe`, in 16 KB pieces as DATA frames and reads
// come, taking all of it; returns what was taken.
size_t burst(StreamPipe& pipe) {
  const std::string piece(16 * 1024, 'p');
  for (size_t sent = 0; sent < kStreamWindow; sent += piece.size()) {
    pipe.put_request(piece.data(), piece.size());
    pipe.put_response(piece.data(), piece.size());
  }
  std::string out(64 * 1024, '\0');
  size_t taken = 0;
  bool end = false;
  for (size_t n; (n = pipe.take_request(out.data(), out.size(), &end)) > 0;) taken += n;
  for (size_t n; (n = pipe.take_response(out.data(), out.size(), &end)) > 0;) taken += n;
  return taken;
}

TEST(StreamPipeTest, ATrimGivesBackABurstsMemoryOnceDrained) {
  StreamPipe pipe;
  pipe.no_replay();
  EXPECT_EQ(burst(pipe), 2 * kStreamWindow);
  EXPECT_GE(pipe.buffer_capacity(), 2 * kStreamWindow);  // kept while the stream flows
  pipe.trim();
  EXPECT_EQ(pipe.buffer_capacity(), kEmpty);
  // The pipe goes on as before.
  EXPECT_EQ(burst(pipe), 2 * kStreamWindow);
  pipe.trim();
  EXPECT_EQ(pipe.buffer_capacity(), kEmpty);
}

TEST(StreamPipeTest, ATrimKeepsWhatWaits) {
  StreamPipe pipe;
  pipe.no_replay();
  std::string message(100, '\0');
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>('a' + i % 26);
  pipe.put_response(message.data(), message.size());
  char out[128];
  bool end = false;
  ASSERT_EQ(pipe.take_response(out, 40, &end), 40u);
  pipe.trim();
  EXPECT_GT(pipe.buffer_capacity(), kEmpty);
  ASSERT_EQ(pipe.take_response(out, sizeof out, &end), 60u);
  EXPECT_EQ(std::string(out, 60), message.substr(40));
  pipe.trim();
  EXPECT_EQ(pipe.buffer_capacity(), kEmpty);
}

TEST(StreamPipeTest, ATrimKeepsARequestThatMayBeSentAgain) {
  // A call the upstream has not processed yet may go once more (REFUSED_STREAM).
  StreamPipe pipe;
  const std::string request(1000, 'r');
  pipe.put_request(request.data(), request.size());
  std::string out(2000, '\0');
  bool end = false;
  ASSERT_EQ(pipe.take_request(out.data(), out.size(), &end), request.size());
  pipe.trim();
  ASSERT_TRUE(pipe.rewind_request());
  EXPECT_EQ(pipe.take_request(out.data(), out.size(), &end), request.size());
}

}  // namespace
}  // namespace gatedrill::gateway::h2
