// The dashboard's window, offscreen: a 1-hour 3-node run opens and every chart is built (the
// elapsed time is printed, not asserted), fault windows are painted where they belong, the node
// selector filters, live refresh appends, compare mode, error paths, PNG export and the
// --screenshot command line.
#include "gui/main_window.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <QApplication>
#include <QChart>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QLineEdit>
#include <QLineSeries>
#include <QProcess>
#include <QTableWidget>
#include <QToolTip>
#include <QTreeWidget>
#include <QValueAxis>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "gui/chart_panel.hpp"
#include "gui/compare_view.hpp"
#include "gui/run_view.hpp"
#include "tests/gui/synthetic_run.hpp"

namespace gatedrill::gui {
namespace {

namespace fs = std::filesystem;
using testing::SyntheticRun;

// One QApplication for the whole binary, on the offscreen platform (no display in CI).
void ensure_app() {
  static int argc = 1;
  static char name[] = "gui_window_tests";
  static char* argv[] = {name, nullptr};
  static QApplication* app = [] {
    qputenv("QT_QPA_PLATFORM", "offscreen");
    return new QApplication(argc, argv);
  }();
  (void)app;
}

class MainWindowTest : public ::testing::Test {
 protected:
  void SetUp() override { ensure_app(); }

  std::vector<int64_t> write(const std::vector<SyntheticRun>& runs) {
    auto ids = db_.write(runs);
    EXPECT_TRUE(ids) << ids.error().message;
    return ids ? *ids : std::vector<int64_t>{};
  }

  std::unique_ptr<MainWindow> open_window() {
    auto window = std::make_unique<MainWindow>();
    window->set_interactive(false);
    window->resize(1500, 960);
    auto opened = window->open_database(QString::fromStdString(path_));
    EXPECT_TRUE(opened) << opened.error().message;
    window->show();
    QApplication::processEvents();
    return window;
  }

  testing::ScratchDb db_;
  const std::string& dir_ = db_.dir();
  const std::string& path_ = db_.path();
};

ChartPanel* chart_titled(RunView* view, const QString& prefix) {
  for (auto* chart : view->charts())
    if (chart->title().startsWith(prefix)) return chart;
  ADD_FAILURE() << "no chart " << prefix.toStdString();
  return view->charts().front();
}

// Pixels that the translucent orange fault band tints (white under it turns peach).
bool fault_tinted(QRgb pixel) {
  int r = qRed(pixel), g = qGreen(pixel), b = qBlue(pixel);
  return r > 200 && r - b > 25 && g > b && r > g;
}

// How many pixels of column x inside the chart's plot area are fault-tinted, in [0, 1].
double tinted_share(ChartPanel* chart, double x_seconds) {
  QImage image = chart->grab().toImage();
  QRectF plot = chart->chart()->plotArea();
  QPoint top = chart->mapFromScene(
      chart->chart()->mapToScene(QPointF(chart->x_to_px(x_seconds), plot.top() + 4)));
  QPoint bottom = chart->mapFromScene(
      chart->chart()->mapToScene(QPointF(chart->x_to_px(x_seconds), plot.bottom() - 4)));
  int tinted = 0, total = 0;
  for (int y = top.y(); y <= bottom.y(); ++y, ++total)
    if (fault_tinted(image.pixel(top.x(), y))) ++tinted;
  return total > 0 ? static_cast<double>(tinted) / total : 0;
}

size_t distinct_colors(const QImage& image) {
  std::set<QRgb> colors;
  for (int y = 0; y < image.height(); y += 2)
    for (int x = 0; x < image.width(); x += 2) colors.insert(image.pixel(x, y));
  return colors.size();
}

TEST_F(MainWindowTest, OpensAOneHourThreeNodeRunAndBuildsEveryChart) {
  SyntheticRun run;
  run.name = "soak";
  run.verdict = "fail";
  run.seconds = 3600;
  run.nodes = 3;
  QElapsedTimer generate;
  generate.start();
  auto ids = write({run});
  ASSERT_EQ(ids.size(), 1u);
  std::printf("[ gui ] wrote a %d s, %d-node run (%d samples) in %lld ms\n", run.seconds, run.nodes,
              run.seconds * (run.nodes + 1), static_cast<long long>(generate.elapsed()));

  {  // Where the time goes: the store and report model alone.
    auto reader = ResultsReader::open(path_);
    ASSERT_TRUE(reader);
    QElapsedTimer load;
    load.start();
    auto data = load_run_data(**reader, ids[0]);
    ASSERT_TRUE(data);
    qint64 read_ms = load.elapsed();
    RunModel model(std::move(*data));
    std::printf("[ gui ] of which reading the run: %lld ms, the model: %lld ms\n",
                static_cast<long long>(read_ms), static_cast<long long>(load.elapsed() - read_ms));
  }
  QElapsedTimer timer;
  timer.start();
  auto window = open_window();
  qint64 elapsed = timer.elapsed();
  std::printf("[ gui ] opened the database and drew every chart in %lld ms\n",
              static_cast<long long>(elapsed));
  ASSERT_TRUE(window->wait_for_background(60'000));
  std::printf("[ gui ] the phase table (histograms merged off the UI thread) followed at %lld ms\n",
              static_cast<long long>(timer.elapsed()));
  RecordProperty("open_ms", static_cast<int>(elapsed));

  ASSERT_TRUE(window->showing_run());
  RunView* view = window->run_view();
  ASSERT_TRUE(view->model());
  EXPECT_EQ(view->model()->sample_count(), 3600u * 4);
  EXPECT_EQ(chart_titled(view, "Request rate")->data_point_count(), 3600u + 6);  // + target steps
  EXPECT_EQ(chart_titled(view, "Latency")->data_point_count(), 3u * 3600);
  // Drawn: at most a low and a high per pixel column of each line.
  ChartPanel* latency = chart_titled(view, "Latency");
  EXPECT_GT(latency->point_count(), 3u * 600);
  EXPECT_LE(latency->point_count(), 3u * static_cast<size_t>(std::max(600, 2 * latency->width())));
  EXPECT_EQ(chart_titled(view, "Status")->line_count(), 4u);
  EXPECT_EQ(chart_titled(view, "CPU")->line_count(), 3u);
  EXPECT_EQ(chart_titled(view, "Memory")->data_point_count(), 3u * 3600);
  for (auto* chart : view->charts())
    EXPECT_EQ(chart->fault_windows().size(), 3u) << chart->title().toStdString();
  // An hour reads in minutes; the bands still sit at their seconds.
  auto* x_axis = qobject_cast<QValueAxis*>(latency->chart()->axes(Qt::Horizontal).front());
  ASSERT_NE(x_axis, nullptr);
  EXPECT_EQ(x_axis->titleText(), "time since load start (min)");
  EXPECT_DOUBLE_EQ(x_axis->max(), 60);
  auto layout = testing::layout_of(run);
  EXPECT_GT(tinted_share(latency, (layout.skew_start + layout.skew_end) / 2.0), 0.6);
  EXPECT_LT(tinted_share(latency, layout.warmup_end + 60), 0.05);
  EXPECT_EQ(view->phase_table()->rowCount(), 3);
  EXPECT_EQ(view->threshold_table()->rowCount(), 4);
  EXPECT_EQ(view->threshold_table()->item(1, 0)->text(), "FAIL");
  EXPECT_EQ(window->run_list()->topLevelItemCount(), 1);
}

TEST_F(MainWindowTest, FaultWindowsAreShadedAtTheirSecondsOnEveryChart) {
  SyntheticRun run;
  run.seconds = 200;
  write({run});
  auto window = open_window();
  auto layout = testing::layout_of(run);
  double inside = (layout.skew_start + layout.skew_end) / 2.0;
  double outside = layout.warmup_end + 5;
  for (auto* chart : window->run_view()->charts()) {
    EXPECT_GT(tinted_share(chart, inside), 0.6) << chart->title().toStdString();
    EXPECT_LT(tinted_share(chart, outside), 0.05) << chart->title().toStdString();
  }
}

TEST_F(MainWindowTest, NodeSelectorFiltersSeriesAndFaultWindows) {
  SyntheticRun run;
  run.seconds = 60;
  write({run});
  auto window = open_window();
  RunView* view = window->run_view();
  view->set_node("gw-3");
  EXPECT_EQ(view->node(), "gw-3");
  EXPECT_EQ(chart_titled(view, "CPU")->line_count(), 1u);
  // gw-3 shares the upstream (its latency fault) but not gw-1's skew nor gw-2's restart.
  EXPECT_EQ(chart_titled(view, "Latency")->fault_windows().size(), 1u);
  view->set_node("all");
  EXPECT_EQ(chart_titled(view, "CPU")->line_count(), 3u);
  view->set_log_latency(true);
  EXPECT_EQ(chart_titled(view, "Latency")->point_count(), 3u * 60);  // every latency is > 0
}

TEST_F(MainWindowTest, LiveRefreshAppendsTheSecondsTheRunnerCommits) {
  SyntheticRun run;
  run.seconds = 30;
  run.finished = false;
  auto store = ResultsStore::open(path_);
  ASSERT_TRUE(store);
  RunRecord record;
  record.name = "live";
  record.started_ms = run.started_ms;
  auto id = (*store)->begin_run(record);
  ASSERT_TRUE(id);
  (*store)->add_phase({*id, 0, "steady", run.started_ms, run.started_ms + 30'000, run.rate});
  ASSERT_TRUE(testing::write_synthetic_seconds(**store, run, *id, 0, 10));

  auto window = open_window();
  ChartPanel* rps = chart_titled(window->run_view(), "Request rate");
  ASSERT_TRUE(window->run_view()->model()->running());
  EXPECT_EQ(rps->point_count(), 10u + 2);

  ASSERT_TRUE(testing::write_synthetic_seconds(**store, run, *id, 10, 15));
  window->poll();
  EXPECT_EQ(rps->point_count(), 15u + 2);
  EXPECT_EQ(window->run_list()->topLevelItem(0)->text(3), "running");

  ASSERT_TRUE((*store)->end_run(*id, "pass", 0, run.started_ms + 16'000));
  window->poll();
  EXPECT_FALSE(window->run_view()->model()->running());
  EXPECT_EQ(window->run_list()->topLevelItem(0)->text(4), "pass");
  EXPECT_EQ(rps->point_count(), 15u + 2);
}

TEST_F(MainWindowTest, FilterHidesRunsThatDoNotMatchEveryWord) {
  SyntheticRun quick;
  quick.name = "quickstart";
  quick.seconds = 10;
  SyntheticRun capacity = quick;
  capacity.name = "capacity";
  capacity.verdict = "fail";
  SyntheticRun quick_fail = quick;
  quick_fail.verdict = "fail";
  write({quick, capacity, quick_fail});
  auto window = open_window();
  auto* filter = window->findChild<QLineEdit*>();
  ASSERT_NE(filter, nullptr);
  auto visible = [&] {
    int n = 0;
    for (int i = 0; i < window->run_list()->topLevelItemCount(); ++i)
      n += window->run_list()->topLevelItem(i)->isHidden() ? 0 : 1;
    return n;
  };
  EXPECT_EQ(visible(), 3);
  filter->setText("QUICK");
  EXPECT_EQ(visible(), 2);
  filter->setText("quick fail");
  EXPECT_EQ(visible(), 1);
  filter->setText("nothing-like-this");
  EXPECT_EQ(visible(), 0);
  filter->clear();
  EXPECT_EQ(visible(), 3);
}

TEST_F(MainWindowTest, CompareOverlaysBothP99CurvesAndShowsPhaseChanges) {
  SyntheticRun baseline;
  baseline.name = "baseline";
  baseline.seconds = 60;
  SyntheticRun candidate = baseline;
  candidate.name = "candidate";
  candidate.latency_scale = 1.5;
  candidate.started_ms += 3'600'000;
  auto ids = write({baseline, candidate});
  auto window = open_window();
  // Given newest first, the older run still becomes the baseline (A).
  ASSERT_TRUE(window->compare_runs(ids[1], ids[0]));
  ASSERT_TRUE(window->showing_compare());
  CompareView* compare = window->compare_view();
  EXPECT_EQ(compare->chart()->line_count(), 2u);
  EXPECT_EQ(compare->chart()->point_count(), 2u * 60);
  // The same drill twice: one band per window, labelled for both runs.
  ASSERT_EQ(compare->chart()->fault_windows().size(), 3u);
  EXPECT_EQ(compare->chart()->fault_windows()[0].label, "A+B: clock_skew on gw-1");
  QTableWidget* table = compare->table();
  ASSERT_EQ(table->rowCount(), 3);
  EXPECT_EQ(table->item(1, 0)->text(), "steady");
  EXPECT_TRUE(table->item(1, 9)->text().startsWith("+"))
      << table->item(1, 9)->text().toStdString();  // p99 worse
  EXPECT_EQ(window->current_chart(), compare->chart());
}

TEST_F(MainWindowTest, BadDatabasesGiveTheStoresErrorsAndTheWindowStaysUsable) {
  MainWindow window;
  window.set_interactive(false);
  auto missing = window.open_database(QString::fromStdString(dir_ + "/nope.db"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "db_open");

  std::string text_file = dir_ + "/notes.db";
  std::ofstream(text_file)
      << "this is not a database, just some text that is long enough to fill a header page";
  auto garbage = window.open_database(QString::fromStdString(text_file));
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, "not_a_results_db");

  write({SyntheticRun{}});
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = window.open_database(QString::fromStdString(path_));
  ASSERT_FALSE(newer);
  EXPECT_EQ(newer.error().code, "schema_too_new");
  EXPECT_FALSE(window.showing_run());
  EXPECT_EQ(window.current_chart(), nullptr);
  EXPECT_FALSE(window.export_current_chart(QString::fromStdString(dir_ + "/x.png")));
}

TEST_F(MainWindowTest, ATruncatedDatabaseIsACleanReadError) {
  SyntheticRun run;
  run.seconds = 300;
  write({run});
  std::string cut = dir_ + "/cut.db";
  {
    std::ifstream in(path_, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    ASSERT_GT(bytes.size(), 8192u);
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  MainWindow window;
  window.set_interactive(false);
  auto opened = window.open_database(QString::fromStdString(cut));
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, "db_corrupt") << opened.error().message;
  EXPECT_NE(opened.error().message.find("damaged"), std::string::npos) << opened.error().message;
  EXPECT_FALSE(window.showing_run());
}

TEST_F(MainWindowTest, HoveringALineShowsTheValueTheSecondThePhaseAndTheFault) {
  SyntheticRun run;
  run.seconds = 100;
  write({run});
  auto window = open_window();
  ChartPanel* latency = chart_titled(window->run_view(), "Latency");
  auto layout = testing::layout_of(run);
  auto* p99 = qobject_cast<QLineSeries*>(latency->chart()->series().at(1));
  ASSERT_NE(p99, nullptr);
  ASSERT_EQ(p99->name(), "p99");
  double second = layout.skew_start + 1;
  SampleRecord expected = testing::synthetic_sample(run, 1, "all", static_cast<int>(second));
  emit p99->hovered(QPointF(second + 0.2, 3.0), true);  // the mouse is near, not on, the point
  QString tip = QToolTip::text();
  EXPECT_TRUE(tip.contains("p99")) << tip.toStdString();
  EXPECT_TRUE(tip.contains(QString::number(expected.p99_us / 1000.0, 'f', 2))) << tip.toStdString();
  EXPECT_TRUE(tip.contains(QString("t = %1 s").arg(second))) << tip.toStdString();
  EXPECT_TRUE(tip.contains("(steady)")) << tip.toStdString();
  EXPECT_TRUE(tip.contains("during clock_skew on gw-1")) << tip.toStdString();
  emit p99->hovered(QPointF(second, 3.0), false);
}

TEST_F(MainWindowTest, ExportsTheCurrentChartAsAPng) {
  SyntheticRun run;
  run.seconds = 90;
  write({run});
  auto window = open_window();
  std::string png = dir_ + "/chart.png";
  ASSERT_TRUE(window->export_current_chart(QString::fromStdString(png)));
  QImage image(QString::fromStdString(png));
  ASSERT_FALSE(image.isNull());
  EXPECT_GT(image.width(), 300);
  EXPECT_GT(distinct_colors(image), 50u);
}

TEST_F(MainWindowTest, ScreenshotCommandRendersOffscreenAndExits) {
  SyntheticRun run;
  run.seconds = 120;
  auto ids = write({run, run});
  std::string png = dir_ + "/shot.png";
  QProcess gui;
  gui.start(GATEDRILL_GUI_BINARY,
            {QString::fromStdString(path_), "--run", QString::number(ids[0]), "--screenshot",
             QString::fromStdString(png), "--size", "1200x800"});
  ASSERT_TRUE(gui.waitForFinished(60'000));
  EXPECT_EQ(gui.exitCode(), 0) << gui.readAllStandardError().toStdString();
  QImage image(QString::fromStdString(png));
  ASSERT_FALSE(image.isNull());
  EXPECT_EQ(image.width(), 1200);
  EXPECT_EQ(image.height(), 800);
  // Non-trivial: text, lines and bands, not one flat colour (no fonts would draw empty boxes).
  EXPECT_GT(distinct_colors(image), 200u);
  int tinted = 0;
  for (int y = 0; y < image.height(); ++y)
    for (int x = 0; x < image.width(); ++x) tinted += fault_tinted(image.pixel(x, y)) ? 1 : 0;
  EXPECT_GT(tinted, 2000);

  QProcess missing;
  missing.start(GATEDRILL_GUI_BINARY, {QString::fromStdString(dir_ + "/nope.db"), "--screenshot",
                                       QString::fromStdString(dir_ + "/none.png")});
  ASSERT_TRUE(missing.waitForFinished(60'000));
  EXPECT_EQ(missing.exitCode(), 1);
  EXPECT_NE(missing.readAllStandardError().toStdString().find("no results database"),
            std::string::npos);
  EXPECT_FALSE(QFile::exists(QString::fromStdString(dir_ + "/none.png")));

  QProcess no_display;  // interactive, nowhere to show: a clear message, not Qt's abort
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  for (const char* name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}) env.remove(name);
  no_display.setProcessEnvironment(env);
  no_display.start(GATEDRILL_GUI_BINARY, {QString::fromStdString(path_)});
  ASSERT_TRUE(no_display.waitForFinished(60'000));
  EXPECT_EQ(no_display.exitCode(), 1);
  EXPECT_NE(no_display.readAllStandardError().toStdString().find("no display"), std::string::npos);

  QProcess bad_run;
  bad_run.start(GATEDRILL_GUI_BINARY, {QString::fromStdString(path_), "--run", "999",
                                       "--screenshot", QString::fromStdString(dir_ + "/none.png")});
  ASSERT_TRUE(bad_run.waitForFinished(60'000));
  EXPECT_EQ(bad_run.exitCode(), 1);
  EXPECT_NE(bad_run.readAllStandardError().toStdString().find("run 999"), std::string::npos);
}

}  // namespace
}  // namespace gatedrill::gui
