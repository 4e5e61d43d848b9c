#pragma once
// Differential tests of the parsers we own against Beast's: a seed message with one to three
// random edits (a byte replaced, inserted or erased, taken from an alphabet of the bytes the
// grammar turns on). Seeded, so a failure repeats.
#include <cstddef>
#include <random>
#include <string>
#include <string_view>

namespace gatedrill::testing_support {

inline void mutate_bytes(std::string& wire, std::mt19937& rng, std::string_view alphabet) {
  for (int m = 1 + static_cast<int>(rng() % 3); m > 0 && !wire.empty(); --m) {
    const size_t at = rng() % wire.size();
    const char c = alphabet[rng() % alphabet.size()];
    switch (rng() % 3) {
      case 0:
        wire[at] = c;
        break;
      case 1:
        wire.insert(wire.begin() + static_cast<std::ptrdiff_t>(at), c);
        break;
      default:
        wire.erase(at, 1);
        break;
    }
  }
}

}  // namespace gatedrill::testing_support
