#pragma once
// What a compiled policy reads of its input document, worked out once at load: the top-level
// keys it names, so a caller can build only those (the gateway's input document has ten, with
// every request header twice), and whether its answer depends on anything but the input and
// the policy's own data (the clock), so a decision can be remembered per input.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace gatedrill::policy {

struct Compiled;
struct Rule;

struct InputUse {
  // True when some read is not `input.<constant key>...`: `input` as a whole (`x := input`,
  // `f(input)`), a key computed at run time (`input[k]`), or `with input...`.
  bool whole = true;
  std::vector<std::string> keys;  // sorted; the top-level keys read (when !whole)
  bool pure = false;              // no builtin that reads the clock is called anywhere

  bool reads(std::string_view key) const {
    return whole || std::binary_search(keys.begin(), keys.end(), key);
  }
};

// Over every rule of `compiled` (a superset of what one query reaches) and the query's body.
InputUse input_use(const Compiled& compiled, const Rule* query = nullptr);

}  // namespace gatedrill::policy
