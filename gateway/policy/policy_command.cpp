#include "gateway/policy/policy_command.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/time/time_source.hpp"
#include "core/util/cli.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "gateway/policy/lint.hpp"
#include "gateway/policy/policy_engine.hpp"

namespace gatedrill {
namespace {

// Two-space indented JSON, as `opa eval --format json` prints it.
void pretty(const boost::json::value& v, std::string& out, int indent) {
  std::string pad(static_cast<size_t>(indent) * 2, ' ');
  std::string pad_in(static_cast<size_t>(indent + 1) * 2, ' ');
  if (v.is_object() && !v.get_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& kv : v.get_object()) {
      if (!first) out += ",\n";
      first = false;
      out += pad_in + to_json(boost::json::string(kv.key())) + ": ";
      pretty(kv.value(), out, indent + 1);
    }
    out += "\n" + pad + "}";
  } else if (v.is_array() && !v.get_array().empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& e : v.get_array()) {
      if (!first) out += ",\n";
      first = false;
      out += pad_in;
      pretty(e, out, indent + 1);
    }
    out += "\n" + pad + "]";
  } else {
    out += to_json(v);
  }
}

// Lets the opa-style short flags through the shared parser.
std::vector<std::string> expand_short_flags(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i > 0 && a == "-d")
      a = "--data";
    else if (i > 0 && a == "-i")
      a = "--input";
    else if (i > 0 && a == "-v")
      a = "--verbose";
    out.push_back(a);
  }
  return out;
}

int with_args(std::vector<std::string> args, ArgParser& parser) {
  std::vector<char*> ptrs;
  for (auto& a : args) ptrs.push_back(a.data());
  return parse_or_exit_code(parser, static_cast<int>(ptrs.size()), ptrs.data());
}

// OPA's error object: {"code", "message", "location": {"file", "row"}}. Our messages start
// with "file:line: " (what a terminal user reads); split that prefix into the location.
boost::json::object opa_error(const Error& e) {
  boost::json::object err{{"code", e.code}, {"message", e.message}};
  auto sep = e.message.find(": ");
  if (sep == std::string::npos) return err;
  std::string_view where(e.message.data(), sep);
  auto colon = where.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == where.size()) return err;
  std::string_view row = where.substr(colon + 1);
  if (!std::all_of(row.begin(), row.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      row.size() > 9) {
    return err;
  }
  err["message"] = e.message.substr(sep + 2);
  err["location"] = boost::json::object{{"file", std::string(where.substr(0, colon))},
                                        {"row", std::stoi(std::string(row))}};
  return err;
}

void print_error_json(const Error& e) {
  boost::json::object err = opa_error(e);
  boost::json::object out{{"errors", boost::json::array{err}}};
  std::string s;
  pretty(out, s, 0);
  std::printf("%s\n", s.c_str());
}

int eval_main(int argc, char** argv) {
  std::vector<std::string> data;
  std::string input_path, query, timeout = "0s", format = "json";
  ArgParser p("policy eval",
              "Evaluate a Rego query like `opa eval --format json` (undefined prints {}).");
  p.repeated("data", &data, "policy (.rego), data (.json) file or directory; repeatable (-d)");
  p.option("input", &input_path, "input document, a JSON file (-i)");
  p.option("timeout", &timeout, "evaluation time limit, e.g. 50ms (0: none)");
  p.option("format", &format, "json (the only format)");
  p.positional("QUERY", &query, "a query, e.g. data.api.authz.allow");
  if (int code = with_args(expand_short_flags(argc, argv), p); code >= 0) return code;
  if (format != "json") {
    std::fprintf(stderr, "error: --format %s is not supported (json only)\n", format.c_str());
    return 2;
  }
  auto limit = parse_duration(timeout);
  if (!limit) {
    std::fprintf(stderr, "error: %s\n", limit.error().message.c_str());
    return 2;
  }
  SystemTimeSource clock;
  PolicyOptions opts;
  opts.time = &clock;
  opts.timeout = *limit;
  auto engine = PolicyEngine::load(data, opts);
  if (!engine) {
    print_error_json(engine.error());
    return 1;
  }
  std::optional<boost::json::value> input;
  if (!input_path.empty()) {
    std::ifstream in(input_path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "error: cannot read %s\n", input_path.c_str());
      return 1;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    auto j = parse_json(ss.str());
    if (!j) {
      print_error_json(make_error("bad_json", input_path + ": " + j.error().message));
      return 1;
    }
    input = std::move(*j);
  }
  auto out = engine->eval_json(query, input ? &*input : nullptr);
  if (!out) {
    print_error_json(out.error());
    return 1;
  }
  std::string s;
  pretty(*out, s, 0);
  std::printf("%s\n", s.c_str());
  return 0;
}

std::string format_ns(std::chrono::nanoseconds d) {
  char buf[32];
  auto ns = d.count();
  if (ns < 1000)
    std::snprintf(buf, sizeof buf, "%lldns", static_cast<long long>(ns));
  else if (ns < 1000000)
    std::snprintf(buf, sizeof buf, "%.3fµs", static_cast<double>(ns) / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(ns) / 1e6);
  return buf;
}

int test_main(int argc, char** argv) {
  std::string path;
  bool verbose = false;
  std::vector<std::string> more;
  ArgParser p("policy test", "Run every test_* rule like `opa test`; exit 1 when any fails.");
  p.flag("verbose", &verbose, "print every test, not only failures (-v)");
  p.repeated("data", &more, "more policy or data files/directories (-d)");
  p.positional("PATH", &path, "a directory or .rego file with policies and tests");
  if (int code = with_args(expand_short_flags(argc, argv), p); code >= 0) return code;
  more.insert(more.begin(), path);
  SystemTimeSource clock;
  PolicyOptions opts;
  opts.time = &clock;
  auto engine = PolicyEngine::load(more, opts);
  if (!engine) {
    std::fprintf(stderr, "%s: %s\n", engine.error().code.c_str(), engine.error().message.c_str());
    return 1;
  }
  auto results = engine->run_tests();
  // As opa test reports them: file by file, each file's tests in the order they are written.
  auto file_line = [](const PolicyTestResult& r) {
    auto colon = r.location.rfind(':');
    long line =
        colon == std::string::npos ? 0 : std::strtol(r.location.c_str() + colon + 1, nullptr, 10);
    return std::make_pair(r.location.substr(0, colon), line);
  };
  std::stable_sort(results.begin(), results.end(),
                   [&](const PolicyTestResult& a, const PolicyTestResult& b) {
                     return file_line(a) < file_line(b);
                   });
  size_t pass = 0, fail = 0, error = 0;
  std::string last_file;
  for (const auto& r : results) {
    if (r.passed)
      ++pass;
    else if (!r.error.empty())
      ++error;
    else
      ++fail;
    if (!verbose && r.passed) continue;
    std::string file = r.location.substr(0, r.location.rfind(':'));
    if (file != last_file) {
      std::printf("%s:\n", file.c_str());
      last_file = file;
    }
    const char* status = r.passed ? "PASS" : r.error.empty() ? "FAIL" : "ERROR";
    std::printf("%s: %s (%s)\n", r.name.c_str(), status, format_ns(r.duration).c_str());
    if (!r.error.empty()) std::printf("  %s\n", r.error.c_str());
  }
  size_t total = results.size();
  if (fail || error || verbose) std::printf("%s\n", std::string(80, '-').c_str());
  if (pass) std::printf("PASS: %zu/%zu\n", pass, total);
  if (fail) std::printf("FAIL: %zu/%zu\n", fail, total);
  if (error) std::printf("ERROR: %zu/%zu\n", error, total);
  if (total == 0) std::printf("no tests found\n");
  return (fail || error) ? 1 : 0;
}

int lint_main(int argc, char** argv) {
  std::string path;
  ArgParser p(
      "policy lint",
      "Flag authorization traps: io.jwt.decode as verification, its result destructured in "
      "the wrong order, a 'Bearer ...' header passed to it, default allow = true. Exit 1 on "
      "findings.");
  p.positional("PATH", &path, "a .rego file or a directory of them");
  if (int code = parse_or_exit_code(p, argc, argv); code >= 0) return code;
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (auto it = fs::recursive_directory_iterator(path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file() && it->path().extension() == ".rego") files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  size_t findings = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "error: cannot read %s\n", f.string().c_str());
      return 1;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    auto r = policy::lint_module(ss.str(), f.string());
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().message.c_str());
      return 1;
    }
    for (const auto& x : *r) {
      std::printf("%s:%d: [%s] %s\n", x.file.c_str(), x.line, x.rule.c_str(), x.message.c_str());
      ++findings;
    }
  }
  if (findings) std::printf("%zu finding(s)\n", findings);
  return findings ? 1 : 0;
}

void usage(std::FILE* out) {
  std::fputs(
      "usage: gatedrill policy eval|test|lint [options]   (gatedrill policy SUB --help)\n\n"
      "  eval   evaluate a query (opa eval --format json)\n"
      "  test   run test_* rules (opa test)\n"
      "  lint   flag the JWT and default-allow traps\n",
      out);
}

}  // namespace

int policy_command(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string sub = argv[1];
  if (sub == "--help" || sub == "-h") {
    usage(stdout);
    return 0;
  }
  if (sub == "eval") return eval_main(argc - 1, argv + 1);
  if (sub == "test") return test_main(argc - 1, argv + 1);
  if (sub == "lint") return lint_main(argc - 1, argv + 1);
  std::fprintf(stderr, "error: unknown policy subcommand '%s'\n", sub.c_str());
  usage(stderr);
  return 2;
}

}  // namespace gatedrill
