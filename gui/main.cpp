// gatedrill-gui [results.db] [--run ID] [--compare ID] [--screenshot out.png]: the dashboard.
// With --screenshot it renders the window offscreen to a PNG and exits (tests and docs use it).
#include <QApplication>
#include <QFileInfo>
#include <QImage>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/util/cli.hpp"
#include "gui/main_window.hpp"
#include "gui/run_view.hpp"

namespace {

constexpr const char* kDefaultDb = "runs/results.db";

bool parse_size(const std::string& text, int& width, int& height) {
  return std::sscanf(text.c_str(), "%dx%d", &width, &height) == 2 && width >= 400 &&
         height >= 300 && width <= 8000 && height <= 8000;
}

int fail(const gatedrill::Error& error) {
  std::fprintf(stderr, "gatedrill-gui: error: %s (%s)\n", error.message.c_str(),
               error.code.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace gatedrill;
  std::string db, screenshot, size = "1500x960", node;
  int64_t run_id = 0, compare_id = 0;
  bool log_latency = false;
  ArgParser args("gatedrill-gui",
                 "The desktop dashboard: browse the runs in a results database (rate, latency, "
                 "status classes,\n"
                 "CPU and memory per second, fault windows, thresholds), compare two runs, follow "
                 "a live run.");
  args.positional("DB", &db, std::string("results database (default ") + kDefaultDb + ")", false);
  args.option("run", &run_id, "show this run (default: the newest)");
  args.option("compare", &compare_id, "compare --run (default: the newest) with this run");
  args.option("node", &node, "show one node (all, gw-1, ...) instead of all");
  args.flag("log", &log_latency, "latency on a log scale");
  args.option("screenshot", &screenshot, "render the window to this PNG offscreen and exit");
  args.option("size", &size, "window size for --screenshot, WIDTHxHEIGHT (default 1500x960)");
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  int width = 0, height = 0;
  if (!parse_size(size, width, height)) {
    std::fprintf(
        stderr,
        "gatedrill-gui: error: --size wants WIDTHxHEIGHT between 400x300 and 8000x8000, not %s\n",
        size.c_str());
    return 2;
  }

  bool headless = !screenshot.empty();
  bool platform_chosen = std::getenv("QT_QPA_PLATFORM") != nullptr;
  // A screenshot needs no display; keep a platform the caller chose.
  if (headless && !platform_chosen) qputenv("QT_QPA_PLATFORM", "offscreen");
  // Without a display Qt would abort with a message about plugins; say what to do instead.
  if (!headless && !platform_chosen && std::getenv("DISPLAY") == nullptr &&
      std::getenv("WAYLAND_DISPLAY") == nullptr) {
    std::fprintf(stderr,
                 "gatedrill-gui: error: no display (DISPLAY and WAYLAND_DISPLAY are unset); run it "
                 "in a desktop session, or render a run with --screenshot out.png\n");
    return 1;
  }
  int qt_argc = 1;  // our options are parsed; Qt sees none of them
  QApplication app(qt_argc, argv);
  QApplication::setApplicationName("gatedrill-gui");

  gui::MainWindow window;
  window.set_interactive(!headless);
  window.resize(width, height);
  if (db.empty() && QFileInfo::exists(kDefaultDb)) db = kDefaultDb;
  if (headless && db.empty())
    return fail(make_error("db_open", "--screenshot needs a results database"));

  if (!db.empty()) {
    Result<void> shown = window.open_database(QString::fromStdString(db));
    if (shown && compare_id != 0) {
      int64_t first = run_id;
      if (first == 0 && window.run_view()->model()) first = window.run_view()->model()->run().id;
      shown = window.compare_runs(first, compare_id);
    } else if (shown && run_id != 0) {
      shown = window.show_run(run_id);
    }
    if (shown && !node.empty() && window.run_view()->model()) {
      auto nodes = window.run_view()->model()->nodes();
      if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) {
        std::string known;
        for (const auto& n : nodes) known += (known.empty() ? "" : ", ") + n;
        shown = make_error("no_such_node", "run has no node " + node + " (it has: " + known + ")");
        if (!headless) std::fprintf(stderr, "gatedrill-gui: %s\n", shown.error().message.c_str());
      } else {
        window.run_view()->set_node(QString::fromStdString(node));
      }
    }
    if (shown && log_latency) window.run_view()->set_log_latency(true);
    if (!shown && headless) return fail(shown.error());
  }

  if (headless) {
    window.show();
    if (!window.wait_for_background(60'000))
      std::fprintf(stderr, "gatedrill-gui: warning: the phase table was not ready after 60 s\n");
    QApplication::processEvents();
    QImage image = window.grab().toImage();
    if (image.isNull() || !image.save(QString::fromStdString(screenshot), "PNG", 0)) {
      std::fprintf(stderr, "gatedrill-gui: error: cannot write %s\n", screenshot.c_str());
      return 1;
    }
    std::printf("wrote %s (%dx%d)\n", screenshot.c_str(), image.width(), image.height());
    return 0;
  }
  window.show();
  return QApplication::exec();
}
