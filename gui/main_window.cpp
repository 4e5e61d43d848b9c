#include "gui/main_window.hpp"

#include <QAction>
#include <QApplication>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QThread>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <optional>
#include <utility>

#include "gui/chart_panel.hpp"
#include "gui/compare_view.hpp"
#include "gui/run_view.hpp"

namespace gatedrill::gui {

namespace {

constexpr int kPollMs = 1000;
// A running run's phase table merges every second's histogram: redo it every few polls only.
constexpr int kSummaryEveryPolls = 5;

enum Column { kId, kScenario, kStarted, kDuration, kVerdict, kRps, kColumns };

// Says what went wrong in the user's terms; the store's message names the file and the detail.
QString title_for(const Error& error) {
  if (error.code == "db_corrupt")
    return "Open the original file, or copy it again after the run has ended (with its -wal file).";
  if (error.code == "db_open") return "Cannot open the results database";
  if (error.code == "schema_too_new") return "Database written by a newer gatedrill";
  if (error.code == "not_a_results_db") return "Not a gatedrill results database";
  if (error.code == "db_corrupt") return "The results database is damaged";
  if (error.code == "no_such_run") return "No such run";
  return "Cannot read the results database";
}

QString hint_for(const Error& error) {
  if (error.code == "schema_too_new")
    return "Open it with a newer gatedrill-gui, or pick another database.";
  if (error.code == "not_a_results_db")
    return "Pick the results.db that gatedrill run wrote (by default runs/results.db).";
  if (error.code == "db_corrupt")
    return "Open the original file, or copy it again after the run has ended (with its -wal file).";
  if (error.code == "db_open")
    return "Check the path; gatedrill run creates runs/results.db on its first run.";
  return "";
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle("gatedrill");
  resize(1500, 960);

  filter_ = new QLineEdit(this);
  filter_->setPlaceholderText("Filter: name, scenario, verdict, PARAM=value, id");
  filter_->setClearButtonEnabled(true);
  runs_ = new QTreeWidget(this);
  runs_->setColumnCount(kColumns);
  runs_->setHeaderLabels({"Run", "Scenario", "Started (UTC)", "Duration", "Verdict", "req/s"});
  runs_->setRootIsDecorated(false);
  runs_->setUniformRowHeights(true);
  runs_->setAlternatingRowColors(true);
  runs_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  runs_->setToolTip("Select a run to browse it; select two (Ctrl+click) to compare them");
  runs_->header()->setStretchLastSection(false);
  runs_->header()->setSectionResizeMode(kScenario, QHeaderView::Stretch);
  auto* left = new QWidget(this);
  auto* left_layout = new QVBoxLayout(left);
  left_layout->setContentsMargins(4, 4, 0, 4);
  left_layout->setSpacing(4);
  auto* runs_title =
      new QLabel("<b>Runs</b> <span style='color:#777'>(Ctrl+click two to compare)</span>", this);
  left_layout->addWidget(runs_title);
  left_layout->addWidget(filter_);
  left_layout->addWidget(runs_, 1);

  stack_ = new QStackedWidget(this);
  placeholder_ = new QLabel(this);
  placeholder_->setAlignment(Qt::AlignCenter);
  placeholder_->setStyleSheet("color: #666; font-size: 13pt");
  run_view_ = new RunView(this);
  compare_view_ = new CompareView(this);
  stack_->addWidget(placeholder_);
  stack_->addWidget(run_view_);
  stack_->addWidget(compare_view_);

  auto* split = new QSplitter(Qt::Horizontal, this);
  split->addWidget(left);
  split->addWidget(stack_);
  split->setStretchFactor(0, 0);
  split->setStretchFactor(1, 1);
  split->setSizes({450, 1050});
  setCentralWidget(split);

  live_label_ = new QLabel(this);
  statusBar()->addPermanentWidget(live_label_);
  build_menus();
  show_placeholder("Open a results database (File > Open database, Ctrl+O).");

  poll_timer_ = new QTimer(this);
  poll_timer_->setInterval(kPollMs);
  QObject::connect(poll_timer_, &QTimer::timeout, this, [this] { poll(); });
  QObject::connect(filter_, &QLineEdit::textChanged, this,
                   [this](const QString&) { apply_filter(); });
  QObject::connect(runs_, &QTreeWidget::itemSelectionChanged, this,
                   [this] { on_selection_changed(); });
}

MainWindow::~MainWindow() {
  if (summary_thread_) {  // its finished handler dies with this window; the thread must not
    summary_thread_->wait();
    delete summary_thread_;
  }
}

void MainWindow::build_menus() {
  QMenu* file = menuBar()->addMenu("&File");
  QAction* open = file->addAction("&Open database...");
  open->setShortcut(QKeySequence::Open);
  QObject::connect(open, &QAction::triggered, this, [this] {
    QString path =
        QFileDialog::getOpenFileName(this, "Open a gatedrill results database", db_path_,
                                     "Results databases (*.db *.sqlite *.sqlite3);;All files (*)");
    if (!path.isEmpty()) (void)open_database(path);
  });
  QAction* export_chart = file->addAction("&Export chart as PNG...");
  export_chart->setShortcut(QKeySequence("Ctrl+E"));
  QObject::connect(export_chart, &QAction::triggered, this, [this] {
    ChartPanel* chart = current_chart();
    if (!chart) {
      statusBar()->showMessage("No chart to export: select a run first", 5000);
      return;
    }
    QString path = QFileDialog::getSaveFileName(this, "Export the chart (" + chart->title() + ")",
                                                "chart.png", "PNG images (*.png)");
    if (path.isEmpty()) return;
    if (!path.endsWith(".png", Qt::CaseInsensitive)) path += ".png";
    if (export_current_chart(path))
      statusBar()->showMessage("Saved " + path, 5000);
    else
      QMessageBox::critical(this, "Cannot save the chart", "Could not write " + path + ".");
  });
  QAction* export_window = file->addAction("Export &window as PNG...");
  QObject::connect(export_window, &QAction::triggered, this, [this] {
    QString path = QFileDialog::getSaveFileName(this, "Export the window", "gatedrill.png",
                                                "PNG images (*.png)");
    if (path.isEmpty()) return;
    if (!grab().save(path, "PNG"))
      QMessageBox::critical(this, "Cannot save the image", "Could not write " + path + ".");
  });
  file->addSeparator();
  QAction* quit = file->addAction("&Quit");
  quit->setShortcut(QKeySequence::Quit);
  QObject::connect(quit, &QAction::triggered, this, [this] { close(); });

  QMenu* view = menuBar()->addMenu("&View");
  QAction* refresh = view->addAction("&Refresh now");
  refresh->setShortcut(QKeySequence::Refresh);
  QObject::connect(refresh, &QAction::triggered, this, [this] { poll(); });
  QAction* log = view->addAction("&Latency on a log scale");
  log->setCheckable(true);
  log->setShortcut(QKeySequence("Ctrl+L"));
  QObject::connect(log, &QAction::toggled, this,
                   [this](bool on) { run_view_->set_log_latency(on); });
  QAction* filter = view->addAction("&Filter runs");
  filter->setShortcut(QKeySequence::Find);
  QObject::connect(filter, &QAction::triggered, this, [this] { filter_->setFocus(); });

  QMenu* help = menuBar()->addMenu("&Help");
  QAction* about = help->addAction("&About");
  QObject::connect(about, &QAction::triggered, this, [this] {
    QMessageBox::about(
        this, "About gatedrill-gui",
        "gatedrill-gui browses the runs recorded in a gatedrill results database: rate, latency, "
        "status classes, CPU and memory per second, fault windows, thresholds and expectations.");
  });
}

void MainWindow::report(const QString& context, const Error& error) {
  QString text = QString::fromStdString(error.message);
  QString hint = hint_for(error);
  statusBar()->showMessage(context + ": " + text, 10000);
  if (!interactive_) return;
  QMessageBox box(QMessageBox::Critical, title_for(error), text, QMessageBox::Ok, this);
  box.setInformativeText(hint);
  box.setDetailedText("error code: " + QString::fromStdString(error.code));
  box.exec();
}

Result<void> MainWindow::open_database(const QString& path) {
  auto reader = ResultsReader::open(path.toStdString());
  if (!reader) {
    report("Cannot open " + path, reader.error());
    return reader.error();
  }
  auto rows = load_run_rows(**reader);
  if (!rows) {
    report("Cannot read " + path, rows.error());
    return rows.error();
  }
  reader_ = std::move(*reader);
  db_path_ = path;
  rows_ = std::move(*rows);
  current_.reset();
  setWindowTitle("gatedrill - " + QFileInfo(path).fileName());
  statusBar()->showMessage(QString("%1: %2 runs").arg(path).arg(rows_.size()), 5000);
  {
    QSignalBlocker block(runs_);
    runs_->clear();
  }
  reload_run_list();
  poll_timer_->start();
  if (rows_.empty()) {
    show_placeholder("No runs in " + QFileInfo(path).fileName() +
                     " yet.\nThey appear here while gatedrill run records them.");
    return {};
  }
  select_ids({rows_.front().run.id});
  return {};
}

void MainWindow::reload_run_list() {
  QSignalBlocker block(runs_);  // keeping the selection must not reload the shown run
  std::vector<int64_t> keep = selected_run_ids();
  runs_->clear();
  QFont bold = runs_->font();
  bold.setBold(true);
  for (const auto& row : rows_) {
    auto* item = new QTreeWidgetItem(runs_);
    item->setData(kId, Qt::UserRole, QVariant::fromValue<qlonglong>(row.run.id));
    item->setText(kId, QString::number(row.run.id));
    item->setText(kScenario,
                  QString::fromStdString(row.run.name.empty() ? row.run.scenario : row.run.name));
    item->setToolTip(kScenario, QString::fromStdString(row.run.scenario + "\n" +
                                                       format_params(row.run.params_json)));
    item->setText(kStarted, QString::fromStdString(format_wall_minute(row.run.started_ms)));
    item->setText(kDuration, QString::fromStdString(format_run_duration(row.run)));
    item->setText(kVerdict, QString::fromStdString(row.run.verdict));
    QColor color = palette::verdict(row.run.verdict);
    item->setForeground(kVerdict, color);
    item->setFont(kVerdict, bold);
    item->setText(kRps, row.seconds > 0 ? QString::number(row.rps, 'f', 0) : QString("-"));
    for (int c : {kId, kDuration, kRps})
      item->setTextAlignment(c, Qt::AlignRight | Qt::AlignVCenter);
  }
  for (int c = 0; c < kColumns; ++c)
    if (c != kScenario) runs_->resizeColumnToContents(c);
  select_ids(keep, false);
  apply_filter();
}

void MainWindow::apply_filter() {
  std::string filter = filter_->text().toStdString();
  for (int i = 0; i < runs_->topLevelItemCount() && i < static_cast<int>(rows_.size()); ++i)
    runs_->topLevelItem(i)->setHidden(!row_matches(rows_[static_cast<size_t>(i)], filter));
}

std::vector<int64_t> MainWindow::selected_run_ids() const {
  std::vector<int64_t> ids;
  for (auto* item : runs_->selectedItems())
    ids.push_back(item->data(kId, Qt::UserRole).toLongLong());
  return ids;
}

void MainWindow::select_ids(const std::vector<int64_t>& ids, bool notify) {
  {
    QSignalBlocker block(runs_);  // one reload for the whole change, not one per item
    runs_->clearSelection();
    for (int i = 0; i < runs_->topLevelItemCount(); ++i) {
      auto* item = runs_->topLevelItem(i);
      if (std::find(ids.begin(), ids.end(), item->data(kId, Qt::UserRole).toLongLong()) !=
          ids.end()) {
        item->setSelected(true);
        runs_->setCurrentItem(item, 0, QItemSelectionModel::NoUpdate);
      }
    }
  }
  if (notify) on_selection_changed();
}

void MainWindow::show_placeholder(const QString& text) {
  placeholder_->setText(text);
  stack_->setCurrentWidget(placeholder_);
  live_label_->clear();
}

Result<std::shared_ptr<RunModel>> MainWindow::load_model(int64_t run_id, bool with_phase_reports) {
  if (!reader_) return make_error("db_open", "no results database is open");
  auto data = with_phase_reports ? load_run_data_with_phase_reports(*reader_, run_id)
                                 : load_run_data(*reader_, run_id);
  if (!data) return data.error();
  return std::make_shared<RunModel>(std::move(*data));
}

void MainWindow::on_selection_changed() {
  std::vector<int64_t> ids = selected_run_ids();
  if (ids.size() == 1) {
    auto model = load_model(ids[0]);
    if (!model) {
      report(QString("Cannot show run %1").arg(ids[0]), model.error());
      show_placeholder(QString::fromStdString(model.error().message));
      return;
    }
    current_ = std::move(*model);
    polls_since_summary_ = 0;
    run_view_->show_run(current_);
    start_phase_reports(current_->run().id);
    stack_->setCurrentWidget(run_view_);
    live_label_->setText(current_->running()
                             ? "<span style='color:#0064c8'>&#9679; live: polling every 1 s</span>"
                             : "");
    return;
  }
  current_.reset();
  if (ids.size() == 2) {
    auto a = load_model(ids[0], true);
    auto b = load_model(ids[1], true);
    if (!a || !b) {
      report("Cannot compare", a ? b.error() : a.error());
      return;
    }
    std::shared_ptr<RunModel> baseline = *a, candidate = *b;
    if (candidate->run().started_ms < baseline->run().started_ms ||
        (candidate->run().started_ms == baseline->run().started_ms &&
         candidate->run().id < baseline->run().id))
      std::swap(baseline, candidate);
    compare_view_->show_runs(baseline, candidate);
    stack_->setCurrentWidget(compare_view_);
    live_label_->clear();
    return;
  }
  show_placeholder(ids.empty() ? "Select a run on the left."
                               : "Select one run to browse it, or two to compare.");
}

Result<void> MainWindow::show_run(int64_t run_id) {
  for (const auto& row : rows_)
    if (row.run.id == run_id) {
      select_ids({run_id});
      if (!current_ || current_->run().id != run_id)
        return make_error("db_read", "run " + std::to_string(run_id) + " could not be shown");
      return {};
    }
  Error error = make_error(
      "no_such_run", "run " + std::to_string(run_id) + " is not in " + db_path_.toStdString());
  report("Cannot show the run", error);
  return error;
}

Result<void> MainWindow::compare_runs(int64_t first, int64_t second) {
  for (int64_t id : {first, second})
    if (std::none_of(rows_.begin(), rows_.end(),
                     [id](const RunRow& r) { return r.run.id == id; })) {
      Error error = make_error(
          "no_such_run", "run " + std::to_string(id) + " is not in " + db_path_.toStdString());
      report("Cannot compare", error);
      return error;
    }
  select_ids({first, second});
  if (!showing_compare()) return make_error("db_read", "the runs could not be compared");
  return {};
}

void MainWindow::poll() {
  if (!reader_) return;
  // The runs list: new runs, and running ones whose duration/verdict/rate moved.
  auto runs = reader_->runs();
  if (!runs) {
    statusBar()->showMessage(
        "Cannot read " + db_path_ + ": " + QString::fromStdString(runs.error().message), 5000);
    return;
  }
  // The runs table is small; the totals (req/s) aggregate every sample: redo those when a run
  // came, ended or changed verdict, and every few seconds while one runs.
  bool list_changed = runs->size() != rows_.size();
  for (size_t i = 0; !list_changed && i < runs->size(); ++i) {
    const RunRecord& now = (*runs)[i];
    const RunRecord& shown = rows_[i].run;
    list_changed =
        now.id != shown.id || now.ended_ms != shown.ended_ms || now.verdict != shown.verdict;
  }
  bool running =
      std::any_of(rows_.begin(), rows_.end(), [](const RunRow& r) { return r.run.ended_ms == 0; });
  if (list_changed || (running && ++list_polls_ >= kSummaryEveryPolls)) {
    list_polls_ = 0;
    if (auto rows = load_run_rows(*reader_)) {
      bool was_empty = rows_.empty();
      rows_ = std::move(*rows);
      reload_run_list();
      if (was_empty && !rows_.empty()) select_ids({rows_.front().run.id});
    }
  }
  // The shown run, while it is being written.
  if (!current_ || !current_->running() || !showing_run()) return;
  int64_t run_id = current_->run().id;
  auto samples = reader_->samples(run_id, {}, current_->poll_from_second());
  auto run = reader_->run(run_id);
  auto phases = reader_->phases(run_id);
  auto events = reader_->events(run_id);
  auto thresholds = reader_->thresholds(run_id);
  if (!samples || !run || !phases || !events || !thresholds) return;  // next second, again
  // A run whose runner died stays "running" with nothing new: then there is nothing to redo.
  size_t added = current_->append_samples(*samples);
  bool changed = added > 0 || run->ended_ms != 0 || phases->size() != current_->phases().size() ||
                 events->size() != current_->summary().events.size() ||
                 thresholds->size() != current_->summary().thresholds.size();
  unsummarized_samples_ += added;
  if (!changed) return;
  current_->update_records(std::move(*run), std::move(*phases), std::move(*events),
                           std::move(*thresholds));
  run_view_->refresh();
  if (!current_->running() ||
      (++polls_since_summary_ >= kSummaryEveryPolls && unsummarized_samples_ > 0)) {
    polls_since_summary_ = 0;
    unsummarized_samples_ = 0;
    start_phase_reports(run_id);
  }
  if (!current_->running()) live_label_->clear();
}

void MainWindow::start_phase_reports(int64_t run_id) {
  if (summary_thread_) {  // one at a time; the newest request runs next
    summary_wanted_ = run_id;
    return;
  }
  auto out = std::make_shared<std::optional<Result<RunSummary>>>();
  std::string path = db_path_.toStdString();
  summary_thread_ = QThread::create([path, run_id, out] {
    // Its own connection: the UI thread keeps reading while this one merges histograms.
    auto reader = ResultsReader::open(path);
    if (!reader)
      out->emplace(reader.error());
    else
      out->emplace(summarize_run(**reader, run_id));
  });
  QThread* thread = summary_thread_;
  QObject::connect(thread, &QThread::finished, this, [this, thread, out, run_id] {
    thread->deleteLater();
    summary_thread_ = nullptr;
    if (out->has_value() && !**out)
      statusBar()->showMessage("Cannot summarize run " + QString::number(run_id) + ": " +
                                   QString::fromStdString((**out).error().message),
                               10000);
    else if (out->has_value() && current_ && current_->run().id == run_id) {
      current_->set_phase_reports(std::move((**out)->phases));
      run_view_->refresh_tables();
    }
    int64_t next = std::exchange(summary_wanted_, 0);
    if (next != 0 && current_ && current_->run().id == next) start_phase_reports(next);
  });
  thread->start();
}

bool MainWindow::wait_for_background(int timeout_ms) {
  QElapsedTimer timer;
  timer.start();
  while (summary_thread_ || summary_wanted_ != 0) {
    auto left = static_cast<unsigned long>(std::max<qint64>(0, timeout_ms - timer.elapsed()));
    if (summary_thread_ && !summary_thread_->wait(left)) return false;
    QApplication::processEvents();  // delivers the thread's finished handler
    if (timer.elapsed() > timeout_ms) return summary_thread_ == nullptr && summary_wanted_ == 0;
  }
  return true;
}

bool MainWindow::showing_run() const {
  return stack_->currentWidget() == run_view_;
}
bool MainWindow::showing_compare() const {
  return stack_->currentWidget() == compare_view_;
}

ChartPanel* MainWindow::current_chart() const {
  if (showing_run()) return run_view_->current_chart();
  if (showing_compare()) return compare_view_->chart();
  return nullptr;
}

bool MainWindow::export_current_chart(const QString& path) {
  ChartPanel* chart = current_chart();
  return chart && chart->save_png(path);
}

}  // namespace gatedrill::gui
