#include "core/crypto/jose_json.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

namespace gatedrill {

namespace {

// boost::json::parser's handler (a value_stack building the value) that also keeps the names of
// the open objects, innermost last, and compares an object's names when it closes.
class JoseJsonHandler {
 public:
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();

  void reset(const boost::json::storage_ptr& storage) {
    stack_.reset(storage);
    key_bytes_.clear();
    names_.clear();
    objects_.clear();
    duplicate_ = false;
  }
  bool duplicate() const { return duplicate_; }
  boost::json::value release() { return stack_.release(); }

  bool on_document_begin(boost::json::error_code&) { return true; }
  bool on_document_end(boost::json::error_code&) { return true; }
  bool on_object_begin(boost::json::error_code&) {
    objects_.push_back(static_cast<uint32_t>(names_.size()));
    return true;
  }
  bool on_object_end(std::size_t n, boost::json::error_code& ec) {
    const uint32_t first = objects_.back();
    objects_.pop_back();
    if (has_duplicate(first)) {
      duplicate_ = true;
      ec = boost::json::error::syntax;  // stops the parser; duplicate_ says why
      return false;
    }
    if (first < names_.size()) {  // the closed object's names are no longer needed
      key_bytes_.resize(names_[first].offset);
      names_.resize(first);
    }
    stack_.push_object(n);
    return true;
  }
  bool on_array_begin(boost::json::error_code&) { return true; }
  bool on_array_end(std::size_t n, boost::json::error_code&) {
    stack_.push_array(n);
    return true;
  }
  // A name arrives in parts only when it holds escapes the parser unescaped into a buffer.
  bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    key_bytes_.append(s.data(), s.size());
    stack_.push_chars(s);
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t n, boost::json::error_code&) {
    key_bytes_.append(s.data(), s.size());
    names_.push_back({static_cast<uint32_t>(key_bytes_.size() - n), static_cast<uint32_t>(n)});
    stack_.push_key(s);
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    stack_.push_string(s);
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_int64(int64_t i, boost::json::string_view, boost::json::error_code&) {
    stack_.push_int64(i);
    return true;
  }
  bool on_uint64(uint64_t u, boost::json::string_view, boost::json::error_code&) {
    stack_.push_uint64(u);
    return true;
  }
  bool on_double(double d, boost::json::string_view, boost::json::error_code&) {
    stack_.push_double(d);
    return true;
  }
  bool on_bool(bool b, boost::json::error_code&) {
    stack_.push_bool(b);
    return true;
  }
  bool on_null(boost::json::error_code&) {
    stack_.push_null();
    return true;
  }
  bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }

 private:
  struct Name {
    uint32_t offset;  // into key_bytes_
    uint32_t size;
  };

  std::string_view name(const Name& n) const {
    return std::string_view(key_bytes_.data() + n.offset, n.size);
  }

  // Pairwise for the few names a token's objects have; sorted for a hostile object with
  // thousands (a 16 KiB payload), so that costs n log n.
  bool has_duplicate(uint32_t first) {
    const size_t count = names_.size() - first;
    if (count < 2) return false;
    if (count <= 16) {
      for (size_t i = first + 1; i < names_.size(); ++i)
        for (size_t j = first; j < i; ++j)
          if (names_[i].size == names_[j].size && name(names_[i]) == name(names_[j])) return true;
      return false;
    }
    sorted_.clear();
    for (size_t i = first; i < names_.size(); ++i) sorted_.push_back(name(names_[i]));
    std::sort(sorted_.begin(), sorted_.end());
    return std::adjacent_find(sorted_.begin(), sorted_.end()) != sorted_.end();
  }

  boost::json::value_stack stack_;
  std::string key_bytes_;          // the open objects' names, unescaped, back to back
  std::vector<Name> names_;        // the open objects' names, innermost object last
  std::vector<uint32_t> objects_;  // per open object: its first entry in names_
  std::vector<std::string_view> sorted_;
  bool duplicate_ = false;
};

boost::json::parse_options jose_options() {
  boost::json::parse_options options;
  options.max_depth = 64;  // as parse_json: deep nesting is hostile input; UTF-8 is validated
  return options;
}

}  // namespace

Result<boost::json::value> parse_jose_json(std::string_view text,
                                           const boost::json::storage_ptr& storage) {
  thread_local boost::json::basic_parser<JoseJsonHandler> parser(jose_options());
  parser.reset();
  JoseJsonHandler& handler = parser.handler();
  handler.reset(storage);
  boost::json::error_code ec;
  const size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used == text.size() && parser.done()) return handler.release();
  const bool duplicate = handler.duplicate();
  handler.reset({});  // drops the partial value and the caller's storage
  if (duplicate) return make_error("duplicate_name", "an object repeats a member name");
  return make_error("bad_json", ec ? "invalid JSON: " + ec.message() : "invalid JSON: extra data");
}

}  // namespace gatedrill
