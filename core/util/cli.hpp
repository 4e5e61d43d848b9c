#pragma once
// A small command-line parser shared by every subcommand, so flags, errors and --help read the
// same everywhere: `--name value`, `--name=value`, switches, repeatable flags, positionals.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill {

class ArgParser {
 public:
  ArgParser(std::string command, std::string summary);

  void option(std::string name, std::string* target, std::string help);
  void option(std::string name, int64_t* target, std::string help);
  void option(std::string name, double* target, std::string help);
  void repeated(std::string name, std::vector<std::string>* target, std::string help);
  void flag(std::string name, bool* target, std::string help);  // a switch, no value
  void positional(std::string name, std::string* target, std::string help, bool required = true);

  // Errors: "usage" with a specific message ("unknown option --rat (did you mean --rate?)").
  Result<void> parse(int argc, char** argv);
  bool help_requested() const { return help_; }
  std::string usage() const;
  const std::string& command() const { return command_; }

 private:
  struct Option {
    std::string name;  // without dashes
    std::string help;
    std::string value_name;
    bool takes_value = true;
    std::function<Result<void>(const std::string&)> set;
  };
  struct Positional {
    std::string name, help;
    std::string* target;
    bool required;
  };
  std::string command_, summary_;
  std::vector<Option> options_;
  std::vector<Positional> positionals_;
  bool help_ = false;
  const Option* find(const std::string& name) const;
};

// Parses, prints usage on --help (exit 0) or the error plus a hint on bad usage (exit 2), else
// returns -1 so the caller continues.
int parse_or_exit_code(ArgParser& parser, int argc, char** argv);

}  // namespace gatedrill
