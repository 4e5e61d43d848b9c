#pragma once
// JSON as a JWS header or JWT payload must be read (RFC 7515 section 5.2): strict, at most 64
// levels deep, and refused when any object at any depth repeats a member name after unescaping
// ("a" and "\u0061" are the same name). Boost.JSON alone keeps the last duplicate, which lets a
// token show one value to us and another to a downstream parser.
#include <string_view>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "core/util/result.hpp"

namespace gatedrill {

// One pass: the names are compared as the parser reports them, no second scan of the text. The
// parser and its stacks are per thread and reused, so after warm-up only `storage` allocates.
// Errors: "bad_json" (invalid JSON, invalid UTF-8, deeper than 64), "duplicate_name".
Result<boost::json::value> parse_jose_json(std::string_view text,
                                           const boost::json::storage_ptr& storage);

}  // namespace gatedrill
