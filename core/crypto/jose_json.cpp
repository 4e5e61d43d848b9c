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

// A name's first 8 bytes (zero-filled) as one word: names of up to 8 bytes (every JOSE header
// parameter and registered claim) compare by size and tag alone, with no memcmp.
uint64_t name_tag(std::string_view name) {
  uint64_t tag = 0;
  std::memcpy(&tag, name.data(), std::min<size_t>(name.size(), sizeof(tag)));
  return tag;
}

// The names of the open objects, innermost last, compared when an object closes: what both
// handlers below use to refuse a repeated name at any depth, after unescaping.
class ObjectNames {
 public:
  void clear() {
    key_bytes_.clear();
    names_.clear();
    objects_.clear();
  }
  void open() { objects_.push_back(static_cast<uint32_t>(names_.size())); }
  // A name arrives in parts only when it holds escapes the parser unescaped into a buffer.
  void key_part(std::string_view s) { key_bytes_.append(s.data(), s.size()); }
  // The whole name (its last part is `s`, `n` bytes in all); valid until the next call.
  std::string_view key(std::string_view s, std::size_t n) {
    key_bytes_.append(s.data(), s.size());
    const std::string_view whole(key_bytes_.data() + key_bytes_.size() - n, n);
    names_.push_back(
        {static_cast<uint32_t>(key_bytes_.size() - n), static_cast<uint32_t>(n), name_tag(whole)});
    return whole;
  }
  // False when the object closing repeats a name.
  bool close() {
    const uint32_t first = objects_.back();
    objects_.pop_back();
    if (has_duplicate(first)) return false;
    if (first < names_.size()) {  // the closed object's names are no longer needed
      key_bytes_.resize(names_[first].offset);
      names_.resize(first);
    }
    return true;
  }

 private:
  struct Name {
    uint32_t offset;  // into key_bytes_
    uint32_t size;
    uint64_t tag;  // name_tag
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
          if (names_[i].tag == names_[j].tag && names_[i].size == names_[j].size &&
              (names_[i].size <= 8 || name(names_[i]) == name(names_[j])))
            return true;
      return false;
    }
    sorted_.clear();
    for (size_t i = first; i < names_.size(); ++i) sorted_.push_back(name(names_[i]));
    std::sort(sorted_.begin(), sorted_.end());
    return std::adjacent_find(sorted_.begin(), sorted_.end()) != sorted_.end();
  }

  std::string key_bytes_;          // the open objects' names, unescaped, back to back
  std::vector<Name> names_;        // the open objects' names, innermost object last
  std::vector<uint32_t> objects_;  // per open object: its first entry in names_
  std::vector<std::string_view> sorted_;
};

// The limits every basic_parser handler declares.
struct HandlerLimits {
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();
};

// boost::json::parser's handler (a value_stack building the value) that also refuses repeated
// names (ObjectNames).
class JoseJsonHandler : public HandlerLimits {
 public:
  void reset(const boost::json::storage_ptr& storage) {
    stack_.reset(storage);
    names_.clear();
    duplicate_ = false;
  }
  bool duplicate() const { return duplicate_; }
  boost::json::value release() { return stack_.release(); }

  bool on_document_begin(boost::json::error_code&) { return true; }
  bool on_document_end(boost::json::error_code&) { return true; }
  bool on_object_begin(boost::json::error_code&) {
    names_.open();
    return true;
  }
  bool on_object_end(std::size_t n, boost::json::error_code& ec) {
    if (!names_.close()) {
      duplicate_ = true;
      ec = boost::json::error::syntax;  // stops the parser; duplicate_ says why
      return false;
    }
    stack_.push_object(n);
    return true;
  }
  bool on_array_begin(boost::json::error_code&) { return true; }
  bool on_array_end(std::size_t n, boost::json::error_code&) {
    stack_.push_array(n);
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    names_.key_part(s);
    stack_.push_chars(s);
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t n, boost::json::error_code&) {
    names_.key(s, n);
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
  boost::json::value_stack stack_;
  ObjectNames names_;
  bool duplicate_ = false;
};

boost::json::parse_options jose_options() {
  boost::json::parse_options options;
  options.max_depth = 64;  // as parse_json: deep nesting is hostile input; UTF-8 is validated
  return options;
}

Error parse_error(bool duplicate, const boost::json::error_code& ec) {
  if (duplicate) return make_error("duplicate_name", "an object repeats a member name");
  return make_error("bad_json", ec ? "invalid JSON: " + ec.message() : "invalid JSON: extra data");
}

}  // namespace

// Keeps the named top-level members' values (JoseValue) and nothing else: no tree, no copies
// but of the kept strings.
class JoseMembersHandler : public HandlerLimits {
 public:
  void reset(std::span<const std::string_view> names, std::span<JoseValue> found,
             JoseBuffers& buffers, size_t text_size) {
    names_.clear();
    if (names.data() != wanted_.data() || names.size() != wanted_.size()) {
      wanted_ = names;
      wanted_tags_.clear();
      for (const auto& name : names) wanted_tags_.push_back(name_tag(name));
    }
    found_ = found;  // a value is cleared when its member is met (value_here), not here
    buffers_ = &buffers;
    buffers.strings.clear();
    // Unescaped strings are never longer than the text, so the views made into this buffer
    // while parsing stay valid: it never grows past what is reserved here.
    buffers.strings.reserve(text_size);
    buffers.members.clear();
    depth_ = 0;
    current_ = -1;
    array_ = -1;
    mask_ = 0;
    string_ = nullptr;
    in_string_ = false;
    top_object_ = false;
    duplicate_ = false;
  }
  bool duplicate() const { return duplicate_; }
  bool top_object() const { return top_object_; }
  // The found mask, with the arrays' member views pointing at their final place.
  uint32_t finish() {
    for (size_t i = 0; i < found_.size(); ++i) {
      JoseValue& v = found_[i];
      if ((mask_ & (1u << i)) != 0 && v.is_array())
        v.members_ = buffers_->members.data() + v.first_member_;
    }
    return mask_;
  }

  bool on_document_begin(boost::json::error_code&) { return true; }
  bool on_document_end(boost::json::error_code&) { return true; }
  bool on_object_begin(boost::json::error_code&) {
    if (JoseValue* v = value_here()) {
      v->kind_ = JoseValue::Kind::kObject;
    } else if (depth_ == 0) {
      top_object_ = true;
    }
    names_.open();
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, boost::json::error_code& ec) {
    --depth_;
    if (!names_.close()) {
      duplicate_ = true;
      ec = boost::json::error::syntax;
      return false;
    }
    return true;
  }
  bool on_array_begin(boost::json::error_code&) {
    if (JoseValue* v = value_here()) {
      v->kind_ = JoseValue::Kind::kArray;
      if (depth_ == 1) {  // a named member's array: its members are kept too
        array_ = static_cast<int>(v - found_.data());
        v->first_member_ = buffers_->members.size();
      }
    }
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, boost::json::error_code&) {
    --depth_;
    if (depth_ == 1 && array_ >= 0) {
      JoseValue& v = found_[static_cast<size_t>(array_)];
      v.members_size_ = buffers_->members.size() - v.first_member_;
      array_ = -1;
    }
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    names_.key_part(s);
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t n, boost::json::error_code&) {
    const std::string_view name = names_.key(s, n);
    if (depth_ == 1) {
      current_ = -1;
      const uint64_t tag = name_tag(name);
      for (size_t i = 0; i < wanted_.size(); ++i) {
        if (wanted_tags_[i] == tag && wanted_[i].size() == name.size() &&
            (name.size() <= 8 || wanted_[i] == name)) {
          current_ = static_cast<int>(i);
          break;
        }
      }
    }
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    if (!in_string_) {
      in_string_ = true;
      string_ = value_here();
      string_start_ = buffers_->strings.size();
    }
    if (string_) buffers_->strings.append(s.data(), s.size());
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t n, boost::json::error_code&) {
    if (!in_string_) {
      string_ = value_here();
      string_start_ = buffers_->strings.size();
    }
    in_string_ = false;
    if (string_) {
      std::string& strings = buffers_->strings;
      strings.append(s.data(), s.size());
      string_->kind_ = JoseValue::Kind::kString;
      string_->string_ = std::string_view(strings.data() + string_start_, n);
      string_ = nullptr;
    }
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_int64(int64_t i, boost::json::string_view, boost::json::error_code&) {
    if (JoseValue* v = value_here()) {
      v->kind_ = JoseValue::Kind::kInt64;
      v->int64_ = i;
    }
    return true;
  }
  bool on_uint64(uint64_t u, boost::json::string_view, boost::json::error_code&) {
    if (JoseValue* v = value_here()) {
      v->kind_ = JoseValue::Kind::kUint64;
      v->uint64_ = u;
    }
    return true;
  }
  bool on_double(double d, boost::json::string_view, boost::json::error_code&) {
    if (JoseValue* v = value_here()) {
      v->kind_ = JoseValue::Kind::kDouble;
      v->double_ = d;
    }
    return true;
  }
  bool on_bool(bool b, boost::json::error_code&) {
    if (JoseValue* v = value_here()) {
      v->kind_ = JoseValue::Kind::kBool;
      v->boolean_ = b;
    }
    return true;
  }
  bool on_null(boost::json::error_code&) {
    if (JoseValue* v = value_here()) v->kind_ = JoseValue::Kind::kNull;
    return true;
  }
  bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }

 private:
  // Where the value starting now goes when it is one we keep: a named member's (depth 1, just
  // after its name) or a member of a named member's array (depth 2); else null.
  JoseValue* value_here() {
    if (depth_ == 1 && current_ >= 0) {
      const auto i = static_cast<size_t>(current_);
      current_ = -1;
      mask_ |= 1u << i;
      found_[i] = JoseValue{};
      return &found_[i];
    }
    if (depth_ == 2 && array_ >= 0) return &buffers_->members.emplace_back();
    return nullptr;
  }

  ObjectNames names_;
  std::span<const std::string_view> wanted_;
  std::vector<uint64_t> wanted_tags_;  // name_tag of each wanted_ name
  std::span<JoseValue> found_;
  JoseBuffers* buffers_ = nullptr;
  int depth_ = 0;     // containers open
  int current_ = -1;  // the named member whose value comes next (depth 1)
  int array_ = -1;    // the named member whose array is open
  uint32_t mask_ = 0;
  JoseValue* string_ = nullptr;  // where the string being read goes (null: nowhere)
  size_t string_start_ = 0;
  bool in_string_ = false;
  bool top_object_ = false;
  bool duplicate_ = false;
};

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
  return parse_error(duplicate, ec);
}

Result<uint32_t> parse_jose_members(std::string_view text, std::span<const std::string_view> names,
                                    std::span<JoseValue> found, JoseBuffers& buffers) {
  thread_local boost::json::basic_parser<JoseMembersHandler> parser(jose_options());
  parser.reset();
  JoseMembersHandler& handler = parser.handler();
  handler.reset(names, found, buffers, text.size());
  boost::json::error_code ec;
  const size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec || used != text.size() || !parser.done()) return parse_error(handler.duplicate(), ec);
  if (!handler.top_object()) return make_error("not_object", "the JSON is not an object");
  return handler.finish();
}

}  // namespace gatedrill
