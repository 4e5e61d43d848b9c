#pragma once
// gatedrill-gui's window: the runs list (filterable, verdicts coloured) on the left; on the
// right one run (RunView) or, with two runs selected, the comparison (CompareView). While the
// shown run is still being written, a one-second poll appends its new seconds (a WAL reader
// never blocks the runner).
#include <QMainWindow>
#include <memory>
#include <vector>

#include "core/store/results_store.hpp"
#include "core/util/result.hpp"
#include "gui/run_model.hpp"

class QLabel;
class QLineEdit;
class QStackedWidget;
class QThread;
class QTimer;
class QTreeWidget;

namespace gatedrill::gui {

class ChartPanel;
class CompareView;
class RunView;

class MainWindow : public QMainWindow {
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Dialogs on errors when interactive; off for --screenshot and tests (errors are returned).
  void set_interactive(bool interactive) { interactive_ = interactive; }

  // Opens a results database and lists its runs (the newest is shown).
  // Errors: the store's ("db_open", "schema_too_new", "not_a_results_db", "db_read").
  Result<void> open_database(const QString& path);
  // Selects one run in the list and shows it. Errors: "no_such_run", the store's.
  Result<void> show_run(int64_t run_id);
  // Selects two runs and shows the comparison (the older is the baseline).
  Result<void> compare_runs(int64_t first, int64_t second);
  // One live-refresh step (the timer calls it every second): new runs, new seconds.
  void poll();
  // Waits (processing events) until the phase reports being merged in the background are
  // shown; false after timeout_ms. For --screenshot and tests.
  bool wait_for_background(int timeout_ms);

  // The chart last clicked in the visible view; null when none is shown.
  ChartPanel* current_chart() const;
  bool export_current_chart(const QString& path);

  RunView* run_view() const { return run_view_; }
  CompareView* compare_view() const { return compare_view_; }
  QTreeWidget* run_list() const { return runs_; }
  bool showing_run() const;
  bool showing_compare() const;

 private:
  void build_menus();
  void reload_run_list();
  void apply_filter();
  void on_selection_changed();
  void show_placeholder(const QString& text);
  // with_phase_reports: merge the histograms now (compare mode); else start_phase_reports.
  Result<std::shared_ptr<RunModel>> load_model(int64_t run_id, bool with_phase_reports = false);
  // Merges the run's histograms into phase reports on a worker thread, then shows them.
  void start_phase_reports(int64_t run_id);
  void report(const QString& title, const Error& error);
  std::vector<int64_t> selected_run_ids() const;
  // notify: show what is selected now (false keeps the view, e.g. when the list reloads).
  void select_ids(const std::vector<int64_t>& ids, bool notify = true);

  std::unique_ptr<ResultsReader> reader_;
  QString db_path_;
  std::vector<RunRow> rows_;
  std::shared_ptr<RunModel> current_;
  int polls_since_summary_ = 0;
  int list_polls_ = 0;
  size_t unsummarized_samples_ = 0;
  QThread* summary_thread_ = nullptr;
  int64_t summary_wanted_ = 0;
  bool interactive_ = true;

  QLineEdit* filter_;
  QTreeWidget* runs_;
  QStackedWidget* stack_;
  QLabel* placeholder_;
  RunView* run_view_;
  CompareView* compare_view_;
  QLabel* live_label_;
  QTimer* poll_timer_;
};

}  // namespace gatedrill::gui
