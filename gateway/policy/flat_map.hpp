#pragma once
// A map kept as one sorted vector: the policy engine's object type. Objects are built once
// (from JSON input, a decoded token, a rule's result) and then only read, so one allocation
// and binary search beat a node per key (std::map was most of the allocations per decision).
// Iteration is in key order, as std::map's.
#include <algorithm>
#include <utility>
#include <vector>

namespace gatedrill::policy {

template <class K, class V>
class FlatMap {
 public:
  using value_type = std::pair<K, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  FlatMap() = default;

  // From pairs with distinct keys in any order (a JSON object's members).
  static FlatMap from_unique(std::vector<value_type> items) {
    std::sort(items.begin(), items.end(),
              [](const value_type& a, const value_type& b) { return a.first < b.first; });
    FlatMap m;
    m.items_ = std::move(items);
    return m;
  }

  // From a range already in key order with distinct keys (a std::map a large object was built
  // in: inserting member by member in any order into the vector would be quadratic).
  template <class It>
  static FlatMap from_sorted(It begin, It end) {
    FlatMap m;
    for (; begin != end; ++begin) m.items_.emplace_back(begin->first, begin->second);
    return m;
  }

  void reserve(size_t n) { items_.reserve(n); }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }

  const_iterator find(const K& k) const {
    auto it = lower(k);
    return it != items_.end() && !(k < it->first) ? it : items_.end();
  }
  iterator find(const K& k) {
    auto it = items_.begin() + (std::as_const(*this).find(k) - items_.cbegin());
    return it;
  }
  size_t count(const K& k) const { return find(k) == end() ? 0 : 1; }
  bool contains(const K& k) const { return find(k) != end(); }

  // Inserts unless the key is there; {position, inserted} as std::map::emplace.
  template <class KK, class VV>
  std::pair<iterator, bool> emplace(KK&& k, VV&& v) {
    auto pos = items_.begin() + (lower(k) - items_.cbegin());
    if (pos != items_.end() && !(k < pos->first)) return {pos, false};
    pos = items_.emplace(pos, std::forward<KK>(k), std::forward<VV>(v));
    return {pos, true};
  }
  V& operator[](const K& k) { return emplace(k, V()).first->second; }

 private:
  const_iterator lower(const K& k) const {
    // Building in key order (a sorted source, an ordered enumeration) appends.
    if (items_.empty() || items_.back().first < k) return items_.end();
    return std::lower_bound(items_.begin(), items_.end(), k,
                            [](const value_type& a, const K& key) { return a.first < key; });
  }

  std::vector<value_type> items_;
};

}  // namespace gatedrill::policy
