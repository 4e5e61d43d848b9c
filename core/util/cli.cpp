#include "core/util/cli.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace gatedrill {

ArgParser::ArgParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void ArgParser::option(std::string name, std::string* target, std::string help) {
  options_.push_back(
      {name, std::move(help), "VALUE", true, [target](const std::string& v) -> Result<void> {
         *target = v;
         return {};
       }});
}

void ArgParser::option(std::string name, int64_t* target, std::string help) {
  options_.push_back(
      {name, std::move(help), "N", true, [target, name](const std::string& v) -> Result<void> {
         int64_t parsed = 0;
         auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
         if (ec != std::errc() || ptr != v.data() + v.size())
           return make_error("usage", "--" + name + " needs a whole number, got '" + v + "'");
         *target = parsed;
         return {};
       }});
}

void ArgParser::option(std::string name, double* target, std::string help) {
  options_.push_back(
      {name, std::move(help), "X", true, [target, name](const std::string& v) -> Result<void> {
         char* end = nullptr;
         double parsed = std::strtod(v.c_str(), &end);
         if (v.empty() || end != v.c_str() + v.size())
           return make_error("usage", "--" + name + " needs a number, got '" + v + "'");
         *target = parsed;
         return {};
       }});
}

void ArgParser::repeated(std::string name, std::vector<std::string>* target, std::string help) {
  options_.push_back(
      {name, std::move(help), "VALUE", true, [target](const std::string& v) -> Result<void> {
         target->push_back(v);
         return {};
       }});
}

void ArgParser::flag(std::string name, bool* target, std::string help) {
  options_.push_back(
      {name, std::move(help), "", false, [target](const std::string&) -> Result<void> {
         *target = true;
         return {};
       }});
}

void ArgParser::positional(std::string name, std::string* target, std::string help, bool required) {
  positionals_.push_back({std::move(name), std::move(help), target, required});
}

const ArgParser::Option* ArgParser::find(const std::string& name) const {
  for (const auto& o : options_)
    if (o.name == name) return &o;
  return nullptr;
}

namespace {
// Levenshtein distance, for "did you mean".
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}
}  // namespace

Result<void> ArgParser::parse(int argc, char** argv) {
  size_t next_positional = 0;
  bool only_positionals = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!only_positionals && arg == "--") {
      only_positionals = true;
      continue;
    }
    if (!only_positionals && (arg == "-h" || arg == "--help")) {
      help_ = true;
      return {};
    }
    if (!only_positionals && arg.size() > 2 && arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2), value;
      bool has_inline = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_inline = true;
      }
      const Option* o = find(name);
      if (!o) {
        std::string hint;
        size_t best = 3;
        for (const auto& c : options_) {
          size_t d = edit_distance(name, c.name);
          if (d < best) best = d, hint = " (did you mean --" + c.name + "?)";
        }
        return make_error("usage", "unknown option --" + name + hint);
      }
      if (o->takes_value && !has_inline) {
        if (i + 1 >= argc) return make_error("usage", "--" + name + " needs a value");
        value = argv[++i];
      } else if (!o->takes_value && has_inline) {
        return make_error("usage", "--" + name + " takes no value");
      }
      if (auto r = o->set(value); !r) return r;
      continue;
    }
    if (next_positional >= positionals_.size())
      return make_error("usage", "unexpected argument '" + arg + "'");
    *positionals_[next_positional++].target = arg;
  }
  for (size_t p = next_positional; p < positionals_.size(); ++p)
    if (positionals_[p].required) return make_error("usage", "missing " + positionals_[p].name);
  return {};
}

namespace {

// "gatedrill run" for a subcommand; a program of its own ("gatedrill-gui") names itself.
std::string program_of(const std::string& command) {
  return command.rfind("gatedrill", 0) == 0 ? command : "gatedrill " + command;
}

}  // namespace

std::string ArgParser::usage() const {
  std::string out = "usage: " + program_of(command_);
  if (!options_.empty()) out += " [options]";
  for (const auto& p : positionals_) out += p.required ? " " + p.name : " [" + p.name + "]";
  out += "\n\n" + summary_ + "\n";
  if (!positionals_.empty() || !options_.empty()) out += "\n";
  auto line = [&out](const std::string& left, const std::string& help) {
    out += "  " + left;
    out += left.size() < 26 ? std::string(26 - left.size(), ' ') : "\n" + std::string(28, ' ');
    out += help + "\n";
  };
  for (const auto& p : positionals_) line(p.name, p.help);
  for (const auto& o : options_)
    line("--" + o.name + (o.takes_value ? " " + o.value_name : ""), o.help);
  return out;
}

int parse_or_exit_code(ArgParser& parser, int argc, char** argv) {
  auto parsed = parser.parse(argc, argv);
  if (parser.help_requested()) {
    std::fputs(parser.usage().c_str(), stdout);
    return 0;
  }
  if (!parsed) {
    std::fprintf(stderr, "error: %s\n(see %s --help)\n", parsed.error().message.c_str(),
                 program_of(parser.command()).c_str());
    return 2;
  }
  return -1;
}

}  // namespace gatedrill
