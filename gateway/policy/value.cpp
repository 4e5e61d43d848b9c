#include "gateway/policy/value.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>

#include <boost/json/serialize.hpp>

namespace gatedrill::policy {

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::kNumber;
  v.int_ = i;
  return v;
}
Value Value::number(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
    return integer(static_cast<int64_t>(d));
  }
  Value v;
  v.kind_ = Kind::kNumber;
  v.is_int_ = false;
  v.double_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.ptr_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
Value Value::array(Array a) {
  Value v;
  v.kind_ = Kind::kArray;
  v.ptr_ = std::make_shared<const Array>(std::move(a));
  return v;
}
Value Value::object(Object o) {
  Value v;
  v.kind_ = Kind::kObject;
  v.ptr_ = std::make_shared<const Object>(std::move(o));
  return v;
}
Value Value::set(Set s) {
  Value v;
  v.kind_ = Kind::kSet;
  v.ptr_ = std::make_shared<const Set>(std::move(s));
  return v;
}

const Value* Value::get(const Value& key) const {
  switch (kind_) {
    case Kind::kArray: {
      if (!key.is_number() || !key.is_int()) return nullptr;
      int64_t i = key.as_int();
      if (i < 0 || i >= static_cast<int64_t>(as_array().size())) return nullptr;
      return &(as_array())[static_cast<size_t>(i)];
    }
    case Kind::kObject: {
      const Object& o = as_object();
      if (key.is_string()) {
        // Most lookups are string keys in a JSON object: strings sort after null, booleans and
        // numbers and before composites, so compare kinds, then the text itself.
        const std::string& k = key.as_string();
        auto it = std::lower_bound(o.begin(), o.end(), key, [&](const auto& kv, const Value&) {
          if (kv.first.kind_ != Kind::kString) return kv.first.kind_ < Kind::kString;
          return kv.first.as_string() < k;
        });
        return it != o.end() && it->first.kind_ == Kind::kString && it->first.as_string() == k
                   ? &it->second
                   : nullptr;
      }
      auto it = o.find(key);
      return it == o.end() ? nullptr : &it->second;
    }
    case Kind::kSet: {
      auto it = as_set().find(key);
      return it == as_set().end() ? nullptr : &*it;
    }
    default:
      return nullptr;
  }
}

// Request documents repeat the same short strings (field names, header names, methods) on
// every request; a small per-thread direct-mapped table hands out the already built Value
// instead of allocating a new one each time. A miss just replaces the slot.
Value Value::short_string(std::string_view s) {
  constexpr size_t kMaxLength = 24;
  constexpr size_t kSlots = 512;
  if (s.size() > kMaxLength) return Value::string(std::string(s));
  thread_local std::array<Value, kSlots> table;
  Value& slot = table[std::hash<std::string_view>{}(s) % kSlots];
  if (!slot.is_string() || slot.as_string() != s) slot = Value::string(std::string(s));
  return slot;
}

size_t Value::hash() const {
  auto mix = [](size_t h, size_t v) {
    return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  };
  size_t h = static_cast<size_t>(kind_);
  switch (kind_) {
    case Kind::kNull:
      return h;
    case Kind::kBool:
      return mix(h, bool_ ? 1 : 0);
    case Kind::kNumber: {
      const double d = as_double();
      return mix(h, std::hash<double>{}(d == 0 ? 0.0 : d));  // -0 == 0
    }
    case Kind::kString:
      return mix(h, std::hash<std::string_view>{}(as_string()));
    case Kind::kArray:
      for (const auto& e : as_array()) h = mix(h, e.hash());
      return h;
    case Kind::kSet:
      for (const auto& e : as_set()) h = mix(h, e.hash());
      return h;
    case Kind::kObject:
      for (const auto& [k, v] : as_object()) h = mix(mix(h, k.hash()), v.hash());
      return h;
  }
  return h;
}

Value Value::from_json(const boost::json::value& j) {
  switch (j.kind()) {
    case boost::json::kind::null:
      return null();
    case boost::json::kind::bool_:
      return boolean(j.get_bool());
    case boost::json::kind::int64:
      return integer(j.get_int64());
    case boost::json::kind::uint64:
      return number(static_cast<double>(j.get_uint64()));
    case boost::json::kind::double_:
      return number(j.get_double());
    case boost::json::kind::string:
      return short_string(j.get_string());
    case boost::json::kind::array: {
      Array a;
      a.reserve(j.get_array().size());
      for (const auto& e : j.get_array()) a.push_back(from_json(e));
      return array(std::move(a));
    }
    case boost::json::kind::object: {
      std::vector<std::pair<Value, Value>> items;
      items.reserve(j.get_object().size());
      for (const auto& kv : j.get_object())
        items.emplace_back(short_string(kv.key()), from_json(kv.value()));
      return object(Object::from_unique(std::move(items)));
    }
  }
  return null();
}

boost::json::value Value::to_json() const {
  switch (kind_) {
    case Kind::kNull:
      return nullptr;
    case Kind::kBool:
      return bool_;
    case Kind::kNumber:
      if (is_int_) return int_;
      return double_;
    case Kind::kString:
      return boost::json::string(as_string());
    case Kind::kArray: {
      boost::json::array a;
      for (const auto& e : as_array()) a.push_back(e.to_json());
      return a;
    }
    case Kind::kSet: {
      boost::json::array a;
      for (const auto& e : as_set()) a.push_back(e.to_json());
      return a;
    }
    case Kind::kObject: {
      boost::json::object o;
      for (const auto& [k, v] : as_object()) {
        o[k.is_string() ? k.as_string() : k.to_string()] = v.to_json();
      }
      return o;
    }
  }
  return nullptr;
}

std::string Value::to_string() const {
  switch (kind_) {
    case Kind::kSet: {
      if (as_set().empty()) return "set()";
      std::string out = "{";
      bool first = true;
      for (const auto& e : as_set()) {
        if (!first) out += ",";
        first = false;
        out += e.to_string();
      }
      return out + "}";
    }
    case Kind::kArray: {
      std::string out = "[";
      bool first = true;
      for (const auto& e : as_array()) {
        if (!first) out += ",";
        first = false;
        out += e.to_string();
      }
      return out + "]";
    }
    case Kind::kObject: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : as_object()) {
        if (!first) out += ",";
        first = false;
        out += k.to_string() + ":" + v.to_string();
      }
      return out + "}";
    }
    default:
      return boost::json::serialize(to_json());
  }
}

std::string_view Value::type_name() const {
  switch (kind_) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return "boolean";
    case Kind::kNumber:
      return "number";
    case Kind::kString:
      return "string";
    case Kind::kArray:
      return "array";
    case Kind::kObject:
      return "object";
    case Kind::kSet:
      return "set";
  }
  return "null";
}

namespace {
template <class It>
int compare_range(It a, It ae, It b, It be) {
  for (; a != ae && b != be; ++a, ++b) {
    int c = compare(*a, *b);
    if (c != 0) return c;
  }
  if (a == ae && b == be) return 0;
  return a == ae ? -1 : 1;
}
}  // namespace

int compare(const Value& a, const Value& b) {
  if (a.kind_ != b.kind_) return a.kind_ < b.kind_ ? -1 : 1;
  // Composites are immutable: the same pointer is the same value (a path read from input
  // compared with itself, a rule value with its cached copy).
  if (a.ptr_ && a.ptr_ == b.ptr_) return 0;
  switch (a.kind_) {
    case Value::Kind::kNull:
      return 0;
    case Value::Kind::kBool:
      return a.bool_ == b.bool_ ? 0 : (a.bool_ ? 1 : -1);
    case Value::Kind::kNumber:
      if (a.is_int_ && b.is_int_) return a.int_ == b.int_ ? 0 : (a.int_ < b.int_ ? -1 : 1);
      return a.as_double() == b.as_double() ? 0 : (a.as_double() < b.as_double() ? -1 : 1);
    case Value::Kind::kString: {
      int c = a.as_string().compare(b.as_string());
      return c == 0 ? 0 : (c < 0 ? -1 : 1);
    }
    case Value::Kind::kArray:
      return compare_range(a.as_array().begin(), a.as_array().end(), b.as_array().begin(),
                           b.as_array().end());
    case Value::Kind::kSet:
      return compare_range(a.as_set().begin(), a.as_set().end(), b.as_set().begin(),
                           b.as_set().end());
    case Value::Kind::kObject: {
      auto ia = a.as_object().begin(), ib = b.as_object().begin();
      for (; ia != a.as_object().end() && ib != b.as_object().end(); ++ia, ++ib) {
        int c = compare(ia->first, ib->first);
        if (c != 0) return c;
        c = compare(ia->second, ib->second);
        if (c != 0) return c;
      }
      if (ia == a.as_object().end() && ib == b.as_object().end()) return 0;
      return ia == a.as_object().end() ? -1 : 1;
    }
  }
  return 0;
}

}  // namespace gatedrill::policy
