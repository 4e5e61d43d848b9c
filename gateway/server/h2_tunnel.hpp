#pragma once
// A WebSocket over HTTP/2 (RFC 8441) once its HTTP/1.1 upstream switched protocols: the
// client's stream (through its StreamPipe: DATA frames under HTTP/2 flow control) and the
// upstream connection relay bytes both ways on the worker's thread. Back-pressure both ways:
// the client's window reopens only as its bytes are taken for the upstream, and the upstream is
// read only while less than one stream window waits for the client.
// Internal to the data plane: only data_plane.cpp and h2_tunnel.cpp include this header.
#include <chrono>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace gatedrill::gateway::h2 {

class StreamPipe;

// Relays until the tunnel ends: the upstream closed (END_STREAM to the client, as the HTTP/1.1
// tunnel closes both sides), the client's END_STREAM (the upstream gets a FIN and may still
// answer), the client reset its stream or left (the upstream connection closes), the stream
// idled out (RST_STREAM CANCEL), or either side failed (RST_STREAM CONNECT_ERROR). `pending`
// holds what the upstream sent past its 101 head. The pipe's head must have been sent.
template <class Stream>
boost::asio::awaitable<void> relay_tunnel(Stream& upstream, boost::beast::flat_buffer& pending,
                                          StreamPipe& pipe,
                                          std::chrono::milliseconds write_timeout);

extern template boost::asio::awaitable<void> relay_tunnel<boost::beast::tcp_stream>(
    boost::beast::tcp_stream&, boost::beast::flat_buffer&, StreamPipe&, std::chrono::milliseconds);
extern template boost::asio::awaitable<void>
relay_tunnel<boost::beast::ssl_stream<boost::beast::tcp_stream>>(
    boost::beast::ssl_stream<boost::beast::tcp_stream>&, boost::beast::flat_buffer&, StreamPipe&,
    std::chrono::milliseconds);

}  // namespace gatedrill::gateway::h2
