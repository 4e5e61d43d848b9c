#include "gui/compare_view.hpp"

#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>

#include "gui/chart_panel.hpp"
#include "gui/run_view.hpp"
#include "reports/report_text.hpp"
#include "reports/run_compare.hpp"

namespace gatedrill::gui {

namespace {

QString run_title(const RunModel& m) {
  const RunRecord& r = m.run();
  return QString("run %1 %2 (%3, %4)")
      .arg(r.id)
      .arg(QString::fromStdString(r.name.empty() ? r.scenario : r.name),
           QString::fromStdString(format_wall_minute(r.started_ms)),
           QString::fromStdString(r.verdict));
}

// The figures the table shows, of those compared_metrics gives.
constexpr const char* kShown[] = {"rps", "p50", "p99", "p999", "error_rate"};

double metric_of(const PhaseReport& p, const std::string& name) {
  if (name == "rps") return p.rps;
  if (name == "error_rate") return p.error_rate();
  return static_cast<double>(phase_metric_ns(p, name));
}

QString value_text(const std::string& name, double value) {
  if (name == "rps") return QString::number(value, 'f', 0);
  if (name == "error_rate") return QString::fromStdString(format_share(value));
  return format_ns(static_cast<int64_t>(value));
}

// Green better, red worse; changes under 5% are noise.
QColor change_color(std::optional<double> change, bool lower_is_better) {
  if (!change || std::fabs(*change) < 0.05) return {};
  bool better = lower_is_better ? *change < 0 : *change > 0;
  return better ? palette::verdict("pass") : palette::verdict("fail");
}

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
  header_ = new QLabel(this);
  header_->setTextFormat(Qt::RichText);
  header_->setWordWrap(true);
  chart_ = new ChartPanel("p99 latency, all nodes", "p99 latency (ms)", " ms", this);
  table_ = make_table(
      {"Phase", "req/s A", "req/s B", "change", "p50 A", "p50 B", "change", "p99 A", "p99 B",
       "change", "p99.9 A", "p99.9 B", "change", "errors A", "errors B", "change"},
      this);
  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(chart_);
  split->addWidget(table_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 4, 6, 4);
  layout->addWidget(header_);
  layout->addWidget(split, 1);
}

void CompareView::show_runs(std::shared_ptr<RunModel> baseline,
                            std::shared_ptr<RunModel> candidate) {
  header_->setText(
      QString("<span style='font-size:15pt; font-weight:600'>Compare</span>&nbsp;&nbsp;"
              "<b>A</b> = %1 &nbsp;&nbsp; <b>B</b> = %2<br><span style='color:#555'>Changes are B "
              "against A; green is better, red worse (5% or more).</span>")
          .arg(run_title(*baseline).toHtmlEscaped(), run_title(*candidate).toHtmlEscaped()));
  Series a = baseline->latency_ms(kAllNodes)[1];
  Series b = candidate->latency_ms(kAllNodes)[1];
  a.name = "A: run " + std::to_string(baseline->run().id);
  b.name = "B: run " + std::to_string(candidate->run().id);
  chart_->set_lines({a, b}, {{a.name, {QColor(0, 114, 178), Qt::SolidLine, 1.8}},
                             {b.name, {QColor(213, 94, 0), Qt::SolidLine, 1.8}}});
  // Both runs' windows; one band for a window both had at the same seconds (a rerun of a drill).
  std::vector<FaultWindow> windows = baseline->fault_windows(kAllNodes);
  auto from_a = static_cast<std::ptrdiff_t>(windows.size());
  for (auto& w : windows) w.label = "A: " + w.label;
  for (auto w : candidate->fault_windows(kAllNodes)) {
    auto same = std::find_if(windows.begin(), windows.begin() + from_a, [&](const FaultWindow& a) {
      return a.start_s == w.start_s && a.end_s == w.end_s && a.name == w.name && a.node == w.node;
    });
    if (same != windows.begin() + from_a) {
      if (same->label.rfind("A: ", 0) == 0) same->label = "A+B: " + same->label.substr(3);
      continue;
    }
    w.label = "B: " + w.label;
    windows.push_back(std::move(w));
  }
  double x_max =
      static_cast<double>(std::max(baseline->last_second(), candidate->last_second()) + 1);
  chart_->set_x_range(0, x_max);
  chart_->set_fault_windows(std::move(windows));

  // The phase table: reports' comparison (phases matched by name, exact percentiles).
  RunSummary base, cand;  // phases only: the comparison copies its summaries
  base.run = baseline->run();
  base.phases = baseline->summary().phases;
  cand.run = candidate->run();
  cand.phases = candidate->summary().phases;
  RunComparison comparison = compare_runs(std::move(base), std::move(cand));
  table_->setRowCount(static_cast<int>(comparison.phases.size()));
  for (int row = 0; row < static_cast<int>(comparison.phases.size()); ++row) {
    const PhaseComparison& p = comparison.phases[static_cast<size_t>(row)];
    QString suffix = p.base && p.candidate ? "" : p.base ? " (A only)" : " (B only)";
    set_cell(table_, row, 0, QString::fromStdString(p.name) + suffix);
    std::vector<ComparedMetric> metrics;
    if (p.base && p.candidate) metrics = compared_metrics(*p.base, *p.candidate);
    for (size_t m = 0; m < std::size(kShown); ++m) {
      int column = 1 + static_cast<int>(m) * 3;
      auto found = std::find_if(metrics.begin(), metrics.end(),
                                [&](const ComparedMetric& c) { return c.name == kShown[m]; });
      if (found == metrics.end()) {  // a phase one run lacks: its own figures, no change
        const auto& one = p.base ? *p.base : *p.candidate;
        QString text = value_text(kShown[m], metric_of(one, kShown[m]));
        set_cell(table_, row, p.base ? column : column + 1, text, {}, true);
        set_cell(table_, row, p.base ? column + 1 : column, "-", {}, true);
        set_cell(table_, row, column + 2, "", {}, true);
        continue;
      }
      std::optional<double> change = found->change();
      set_cell(table_, row, column, value_text(found->name, found->base), {}, true);
      set_cell(table_, row, column + 1, value_text(found->name, found->candidate), {}, true);
      set_cell(table_, row, column + 2,
               QString::fromStdString(format_change(found->base, found->candidate)),
               change_color(change, found->lower_is_better), true);
    }
  }
  table_->horizontalHeader()->setStretchLastSection(false);
  table_->resizeColumnsToContents();
}

}  // namespace gatedrill::gui
