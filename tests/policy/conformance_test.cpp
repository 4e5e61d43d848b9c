// Runs every case in tests/policy/cases/*.json: modules (inline or files), data, input, query,
// and one expectation (want_value / want_result / want_undefined / want_error_code+want_error).
// The case file and note are stamped into every failure.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/time/time_source.hpp"
#include "core/util/json.hpp"
#include "gateway/policy/policy_engine.hpp"
#include "gateway/policy/value.hpp"

namespace gatedrill {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Sets come back as sorted arrays; bindings compared as a sorted list of objects.
// Object key order does not matter: compare through the engine's ordered values.
std::string canon(const boost::json::value& v) {
  return to_json(policy::Value::from_json(v).to_json());
}

std::vector<std::string> canonical_rows(const boost::json::array& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) {
    boost::json::object sorted;
    std::vector<std::string> keys;
    for (const auto& kv : r.as_object()) keys.emplace_back(kv.key());
    std::sort(keys.begin(), keys.end());
    std::string s = "{";
    for (const auto& k : keys) s += k + "=" + canon(r.as_object().at(k)) + ";";
    out.push_back(s + "}");
  }
  std::sort(out.begin(), out.end());
  return out;
}

int run_case(const fs::path& file, const boost::json::object& c) {
  std::string note = c.contains("note") ? std::string(c.at("note").as_string()) : "?";
  SCOPED_TRACE(file.filename().string() + ": " + note);
  std::vector<PolicyModule> modules;
  if (c.contains("modules")) {
    int i = 0;
    for (const auto& m : c.at("modules").as_array()) {
      modules.push_back({"mod" + std::to_string(i++) + ".rego", std::string(m.as_string())});
    }
  }
  if (c.contains("module_files")) {
    for (const auto& m : c.at("module_files").as_array()) {
      fs::path p = fs::path(GATEDRILL_SOURCE_DIR) / "tests/policy" / std::string(m.as_string());
      modules.push_back({p.filename().string(), slurp(p)});
    }
  }
  if (modules.empty()) modules.push_back({"mod0.rego", "package t"});
  ManualTimeSource clock;
  PolicyOptions opts;
  opts.time = &clock;
  boost::json::value data = c.contains("data") ? c.at("data") : boost::json::object();
  auto engine = PolicyEngine::from_sources(modules, data, opts);
  std::string query(c.at("query").as_string());
  const boost::json::value* input = c.contains("input") ? &c.at("input") : nullptr;

  Result<boost::json::value> out =
      engine ? engine->eval_json(query, input) : Result<boost::json::value>(engine.error());
  if (c.contains("want_error_code") || c.contains("want_error")) {
    EXPECT_FALSE(out.ok()) << "expected an error, got " << (out ? to_json(*out) : "");
    if (out.ok()) return 1;
    if (c.contains("want_error_code")) {
      EXPECT_EQ(out.error().code, std::string(c.at("want_error_code").as_string()))
          << out.error().message;
    }
    if (c.contains("want_error")) {
      EXPECT_NE(out.error().message.find(std::string(c.at("want_error").as_string())),
                std::string::npos)
          << "message: " << out.error().message;
    }
    return 1;
  }
  EXPECT_TRUE(out.ok()) << out.error().code << ": " << out.error().message;
  if (!out.ok()) return 1;
  const auto& o = out->as_object();
  if (c.contains("want_undefined")) {
    EXPECT_FALSE(o.contains("result")) << "expected undefined, got " << to_json(*out);
    return 1;
  }
  EXPECT_TRUE(o.contains("result")) << "expected a result, got undefined";
  if (!o.contains("result")) return 1;
  const auto& results = o.at("result").as_array();
  if (c.contains("want_value")) {
    EXPECT_EQ(results.size(), 1u);
    EXPECT_EQ(canon(results[0].at("expressions").at(0).at("value")), canon(c.at("want_value")));
  }
  if (c.contains("want_result")) {
    boost::json::array got;
    for (const auto& r : results) {
      got.push_back(r.as_object().contains("bindings") ? r.at("bindings") : boost::json::object());
    }
    EXPECT_EQ(canonical_rows(got), canonical_rows(c.at("want_result").as_array())) << to_json(*out);
  }
  return 1;
}

TEST(PolicyConformance, EveryCaseFileHolds) {
  fs::path dir = fs::path(GATEDRILL_SOURCE_DIR) / "tests/policy/cases";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 4u);
  int total = 0;
  for (const auto& f : files) {
    auto doc = parse_json(slurp(f));
    ASSERT_TRUE(doc.ok()) << f << ": " << doc.error().message;
    for (const auto& c : doc->at("cases").as_array()) total += run_case(f, c.as_object());
  }
  EXPECT_GE(total, 100);
}

}  // namespace
}  // namespace gatedrill
