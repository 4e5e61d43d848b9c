#pragma once
// The usual HTTP/1.1 request head read in one pass into a Beast request, in place of Beast's
// parser: that one looks at each byte of a field value on its own (a Bearer token is ~800 of
// them, ~5,000 instructions a request) and completes through the executor. Read here is only a
// head with nothing unusual in it: HTTP/1.0 or 1.1, no body (no Content-Length or
// Transfer-Encoding), Connection a plain list of tokens, no empty line before it. Anything else
// goes to Beast's parser as before, so the answers BAD-INPUTS.md expects (its exact errors) stay
// as they were; and what this reads, Beast reads the same way
// (tests/gateway/h1_request_head_test.cpp compares the two on mutated heads).
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace gatedrill::gateway {

// `head`: a complete head as scan_request_head delimits it, up to and including the blank
// line. Fills `into` (a default-constructed request) and returns true; or returns false and
// leaves `into` default-constructed.
bool read_plain_request_head(std::string_view head,
                             boost::beast::http::request<boost::beast::http::string_body>& into);

}  // namespace gatedrill::gateway
