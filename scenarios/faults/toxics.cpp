#include "scenarios/faults/toxics.hpp"

#include <algorithm>

#include "core/util/json.hpp"

namespace gatedrill {

namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

struct AttributeSpec {
  const char* name;
  int64_t default_value;
  int64_t min;
  int64_t Toxic::*field;
};

// The attributes each type takes, their defaults and lower bounds.
const std::map<std::string, std::vector<AttributeSpec>>& attribute_specs() {
  static const std::map<std::string, std::vector<AttributeSpec>> specs = {
      {"latency", {{"latency", 0, 0, &Toxic::latency}, {"jitter", 0, 0, &Toxic::jitter}}},
      {"bandwidth", {{"rate", 0, 1, &Toxic::rate}}},
      {"slow_close", {{"delay", 0, 0, &Toxic::delay}}},
      {"timeout", {{"timeout", 0, 0, &Toxic::timeout}}},
      {"reset_peer", {{"timeout", 0, 0, &Toxic::timeout}}},
      {"slicer",
       {{"average_size", 0, 1, &Toxic::average_size},
        {"size_variation", 0, 0, &Toxic::size_variation},
        {"delay", 0, 0, &Toxic::delay_us}}},
      {"limit_data", {{"bytes", 0, 0, &Toxic::bytes}}},
      {"mtu_blackhole", {{"mtu", 1500, 68, &Toxic::mtu}}},
  };
  return specs;
}

Error bad(std::string message) {
  return make_error("bad_toxic", std::move(message));
}

// Splits every piece into parts of at most `size(rng)` bytes; parts after the first get `gap`.
template <class SizeFn>
std::vector<Piece> split(std::vector<Piece> pieces, SizeFn size, microseconds gap) {
  std::vector<Piece> out;
  for (auto& piece : pieces) {
    size_t at = 0;
    bool first = true;
    if (piece.data.empty()) out.push_back(std::move(piece));
    while (at < piece.data.size()) {
      const size_t n = std::min(piece.data.size() - at, std::max<size_t>(1, size()));
      out.push_back(Piece{piece.data.substr(at, n), first ? piece.delay + gap : gap});
      at += n;
      first = false;
    }
  }
  return out;
}

}  // namespace

const std::vector<std::string>& toxic_types() {
  static const std::vector<std::string> types = [] {
    std::vector<std::string> t;
    for (const auto& [name, _] : attribute_specs()) t.push_back(name);
    return t;
  }();
  return types;
}

const char* stream_name(Stream stream) {
  return stream == Stream::kUpstream ? "upstream" : "downstream";
}

Result<Toxic> parse_toxic(const boost::json::object& body) {
  Toxic toxic;
  auto type = json_string(body, "type");
  if (!type) return bad(type.error().message);
  if (!type->has_value()) return bad("a toxic needs a \"type\"");
  toxic.type = **type;
  auto spec = attribute_specs().find(toxic.type);
  if (spec == attribute_specs().end()) {
    std::string known;
    for (const auto& t : toxic_types()) known += (known.empty() ? "" : ", ") + t;
    return bad("unknown toxic type '" + toxic.type + "'; known: " + known);
  }
  auto stream = json_string(body, "stream");
  if (!stream) return bad(stream.error().message);
  const std::string stream_text = stream->value_or("downstream");
  if (stream_text == "upstream")
    toxic.stream = Stream::kUpstream;
  else if (stream_text == "downstream")
    toxic.stream = Stream::kDownstream;
  else
    return bad("stream must be \"upstream\" or \"downstream\", got \"" + stream_text + "\"");
  auto toxicity = json_number(body, "toxicity");
  if (!toxicity) return bad(toxicity.error().message);
  toxic.toxicity = toxicity->value_or(1.0);
  if (!(toxic.toxicity >= 0.0 && toxic.toxicity <= 1.0)) {
    return bad("toxicity must be between 0.0 and 1.0");
  }
  auto name = json_string(body, "name");
  if (!name) return bad(name.error().message);
  toxic.name = name->value_or(toxic.type + "_" + stream_text);
  if (toxic.name.empty() || toxic.name.find('/') != std::string::npos) {
    return bad("a toxic name must be non-empty and contain no '/'");
  }

  boost::json::object attributes;
  if (auto it = body.find("attributes"); it != body.end()) {
    if (!it->value().is_object()) return bad("attributes must be an object");
    attributes = it->value().as_object();
  }
  for (const auto& [key, _] : attributes) {
    const bool known = std::any_of(spec->second.begin(), spec->second.end(),
                                   [&](const AttributeSpec& a) { return key == a.name; });
    if (!known) {
      return bad("a " + toxic.type + " toxic has no attribute '" + std::string(key) + "'");
    }
  }
  for (const auto& a : spec->second) {
    auto value = json_int(attributes, a.name);
    if (!value) return bad("attributes." + std::string(a.name) + " must be an integer");
    const int64_t v = value->value_or(a.default_value);
    if (v < a.min) {
      return bad("attributes." + std::string(a.name) + " must be >= " + std::to_string(a.min) +
                 ", got " + std::to_string(v));
    }
    toxic.*(a.field) = v;
    attributes[a.name] = v;
  }
  if (toxic.type == "slicer" && toxic.size_variation >= toxic.average_size) {
    return bad("attributes.size_variation must be smaller than attributes.average_size");
  }
  toxic.attributes = std::move(attributes);
  return toxic;
}

boost::json::object toxic_to_json(const Toxic& toxic) {
  boost::json::object o;
  o["name"] = toxic.name;
  o["type"] = toxic.type;
  o["stream"] = stream_name(toxic.stream);
  o["toxicity"] = toxic.toxicity;
  o["attributes"] = toxic.attributes;
  return o;
}

bool affects(const Toxic& toxic, DirectionState& state) {
  auto it = state.affected.find(toxic.id);
  if (it != state.affected.end()) return it->second;
  bool hit = toxic.toxicity >= 1.0 ||
             (toxic.toxicity > 0.0 &&
              std::uniform_real_distribution<double>(0.0, 1.0)(state.rng) < toxic.toxicity);
  state.affected.emplace(toxic.id, hit);
  return hit;
}

ChunkPlan plan_chunk(std::string chunk, const std::vector<Toxic>& toxics, DirectionState& state) {
  ChunkPlan plan;
  plan.pieces.push_back(Piece{std::move(chunk), microseconds(0)});
  for (const auto& toxic : toxics) {
    if (!affects(toxic, state)) continue;
    const std::string& t = toxic.type;
    if (t == "timeout") {
      plan.action = ChunkPlan::Action::kDrop;
      plan.pieces.clear();
      if (toxic.timeout > 0) plan.close_after = milliseconds(toxic.timeout);
      return plan;
    }
    if (t == "reset_peer") {
      plan.action = ChunkPlan::Action::kDrop;
      plan.pieces.clear();
      plan.then = ChunkPlan::Then::kReset;
      plan.then_delay = milliseconds(toxic.timeout);
      return plan;
    }
    if (t == "mtu_blackhole") {
      int64_t size = 0;
      for (const auto& p : plan.pieces) size += static_cast<int64_t>(p.data.size());
      // A real black hole drops every segment larger than the path MTU; a write that fits in
      // one small segment (with what this exchange already sent) still gets through.
      if (state.exchange + size > toxic.mtu) {
        plan.action = ChunkPlan::Action::kHold;
        plan.pieces.clear();
        return plan;
      }
    } else if (t == "limit_data") {
      int64_t room = toxic.bytes - state.forwarded;
      std::vector<Piece> kept;
      for (auto& p : plan.pieces) {
        if (room <= 0) break;
        if (static_cast<int64_t>(p.data.size()) > room) p.data.resize(static_cast<size_t>(room));
        room -= static_cast<int64_t>(p.data.size());
        kept.push_back(std::move(p));
      }
      plan.pieces = std::move(kept);
      if (room <= 0) plan.then = ChunkPlan::Then::kClose;
    } else if (t == "latency") {
      int64_t ms = toxic.latency;
      if (toxic.jitter > 0) {
        ms += std::uniform_int_distribution<int64_t>(-toxic.jitter, toxic.jitter)(state.rng);
      }
      if (!plan.pieces.empty()) plan.pieces.front().delay += milliseconds(std::max<int64_t>(0, ms));
    } else if (t == "bandwidth") {
      // Pieces of 100 ms worth of bytes, each written after the time it takes at the rate.
      const size_t per_100ms = static_cast<size_t>(std::max<int64_t>(1, toxic.rate * 1024 / 10));
      auto pieces = split(
          std::move(plan.pieces), [&] { return per_100ms; }, microseconds(0));
      for (auto& p : pieces) {
        p.delay +=
            microseconds(static_cast<int64_t>(p.data.size()) * 1'000'000 / (toxic.rate * 1024));
      }
      plan.pieces = std::move(pieces);
    } else if (t == "slicer") {
      std::uniform_int_distribution<int64_t> size(toxic.average_size - toxic.size_variation,
                                                  toxic.average_size + toxic.size_variation);
      plan.pieces = split(
          std::move(plan.pieces), [&] { return static_cast<size_t>(size(state.rng)); },
          microseconds(toxic.delay_us));
    }
  }
  for (const auto& p : plan.pieces) {
    state.forwarded += static_cast<int64_t>(p.data.size());
    state.exchange += static_cast<int64_t>(p.data.size());
  }
  return plan;
}

std::chrono::microseconds close_delay(const std::vector<Toxic>& toxics, DirectionState& state) {
  microseconds delay(0);
  for (const auto& toxic : toxics) {
    if (toxic.type == "slow_close" && affects(toxic, state)) delay += milliseconds(toxic.delay);
  }
  return delay;
}

}  // namespace gatedrill
