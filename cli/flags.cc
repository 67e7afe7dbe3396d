#include "cli/flags.h"

#include <CLI/CLI.hpp>
#include <algorithm>

namespace uvm::cli {
namespace {

template <class T>
CLI::Option* AddOption(CLI::App* app, const std::string& names, T& into, const std::string& help) {
  return app->add_option(names, into, help);
}

}  // namespace

Command Command::Sub(const std::string& name, const std::string& help) {
  return Command(app_->add_subcommand(name, help));
}

Command& Command::Option(const std::string& names, std::string& into, const std::string& help) {
  last_ = AddOption(app_, names, into, help);
  return *this;
}

Command& Command::Option(const std::string& names, std::vector<std::string>& into,
                         const std::string& help) {
  last_ = AddOption(app_, names, into, help);
  return *this;
}

Command& Command::Option(const std::string& names, int& into, const std::string& help) {
  last_ = AddOption(app_, names, into, help);
  return *this;
}

Command& Command::Option(const std::string& names, uint64_t& into, const std::string& help) {
  last_ = AddOption(app_, names, into, help);
  return *this;
}

Command& Command::Option(const std::string& names, uint32_t& into, const std::string& help) {
  last_ = AddOption(app_, names, into, help);
  return *this;
}

Command& Command::Flag(const std::string& names, bool& into, const std::string& help) {
  last_ = app_->add_flag(names, into, help);
  return *this;
}

Command& Command::Required() {
  if (last_) last_->required();
  return *this;
}

Command& Command::ShowDefault() {
  if (last_) last_->capture_default_str();
  return *this;
}

Command& Command::NeedsSubcommand() {
  app_->require_subcommand(1);
  return *this;
}

Command& Command::PassRest() {
  app_->prefix_command();
  return *this;
}

Command& Command::Footer(const std::string& text) {
  app_->footer(text);
  return *this;
}

Command& Command::OnParsed(std::function<void()> action) {
  app_->callback(std::move(action));
  return *this;
}

bool Command::TakesValue(const std::string& word) const {
  const CLI::Option* opt = app_->get_option_no_throw(word);
  return opt != nullptr && opt->get_items_expected_min() > 0;
}

std::string Command::name() const { return app_->get_name(); }

CommandLine::CommandLine(const std::string& description)
    : app_(std::make_unique<CLI::App>(description)), root_(app_.get()) {}

CommandLine::~CommandLine() = default;

CommandLine::Outcome CommandLine::Parse(std::vector<std::string> args) {
  Outcome out;
  try {
    std::reverse(args.begin(), args.end());  // CLI11 takes the words last-first
    app_->parse(args);
    out.run = true;
  } catch (const CLI::CallForHelp& e) {
    out.exit_code = app_->exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    out.exit_code = app_->exit(e);
  } catch (const CLI::ParseError& e) {
    out.error = std::string(e.what()) + " (see `uvm --help`)";
  }
  return out;
}

}  // namespace uvm::cli
