#pragma once
// An immutable string shared by reference count: copying one is an atomic increment, not an
// allocation. For values made once and stamped on every request (a policy version, a verified
// token's subject) that outlive the call that hands them out.
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace gatedrill {

class SharedString {
 public:
  SharedString() = default;
  SharedString(std::string text)  // NOLINT(google-explicit-constructor): a string is one
      : text_(std::make_shared<const std::string>(std::move(text))) {}
  SharedString(const char* text) : SharedString(std::string(text)) {}  // NOLINT
  explicit SharedString(std::string_view text) : SharedString(std::string(text)) {}

  const std::string& str() const { return text_ ? *text_ : empty_string(); }
  std::string_view view() const { return str(); }
  operator std::string_view() const { return str(); }  // NOLINT: reads as the text it holds
  bool empty() const { return str().empty(); }
  size_t size() const { return str().size(); }

  friend bool operator==(const SharedString& a, std::string_view b) { return a.view() == b; }

 private:
  static const std::string& empty_string() {
    static const std::string kEmpty;
    return kEmpty;
  }
  std::shared_ptr<const std::string> text_;
};

}  // namespace gatedrill
