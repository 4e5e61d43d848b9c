#pragma once
// Rego values: JSON plus sets, with OPA's total order (null < bool < number < string < array <
// object < set). Composites are immutable and shared, so copying a Value is cheap.
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "gateway/policy/flat_map.hpp"

namespace gatedrill::policy {

class Value;
using Array = std::vector<Value>;
using Object = FlatMap<Value, Value>;
using Set = std::set<Value>;

class Value {
 public:
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject, kSet };

  Value() = default;
  static Value null() { return Value(); }
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double d);  // integral doubles that fit become integers
  static Value string(std::string s);
  static Value array(Array a);
  static Value object(Object o);
  static Value set(Set s);
  // A string value; short texts repeated on every request (field names, header names, methods)
  // come from a small per-thread table instead of a new allocation each time.
  static Value short_string(std::string_view s);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_set() const { return kind_ == Kind::kSet; }
  bool is_false() const { return kind_ == Kind::kBool && !bool_; }
  bool is_true() const { return kind_ == Kind::kBool && bool_; }

  bool as_bool() const { return bool_; }
  bool is_int() const { return is_int_; }
  int64_t as_int() const { return is_int_ ? int_ : static_cast<int64_t>(double_); }
  double as_double() const { return is_int_ ? static_cast<double>(int_) : double_; }
  const std::string& as_string() const { return *static_cast<const std::string*>(ptr_.get()); }
  const Array& as_array() const { return *static_cast<const Array*>(ptr_.get()); }
  const Object& as_object() const { return *static_cast<const Object*>(ptr_.get()); }
  const Set& as_set() const { return *static_cast<const Set*>(ptr_.get()); }

  // Index into an array (integer), object (any key) or set (membership -> the member).
  const Value* get(const Value& key) const;

  static Value from_json(const boost::json::value& v);
  // Sets become sorted arrays; non-string object keys are serialised to JSON text.
  boost::json::value to_json() const;
  std::string to_string() const;  // JSON text (sets as Rego {..})
  std::string_view type_name() const;
  // Consistent with ==: equal values hash alike (numbers by their double value).
  size_t hash() const;

  friend int compare(const Value& a, const Value& b);
  friend bool operator<(const Value& a, const Value& b) { return compare(a, b) < 0; }
  friend bool operator==(const Value& a, const Value& b) { return compare(a, b) == 0; }
  friend bool operator!=(const Value& a, const Value& b) { return compare(a, b) != 0; }

 private:
  // Small on purpose (copied on every binding): one shared pointer to the string, array,
  // object or set, which kind_ says.
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  bool is_int_ = true;
  union {
    int64_t int_ = 0;
    double double_;
  };
  std::shared_ptr<const void> ptr_;
};

int compare(const Value& a, const Value& b);

}  // namespace gatedrill::policy
