#include "gui/compare_view.hpp"

#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "gui/chart_panel.hpp"
#include "gui/run_compare.hpp"
#include "gui/run_view.hpp"

namespace gatedrill::gui {

namespace {

QString run_title(const RunModel& m) {
  const RunRecord& r = m.run();
  return QString("run %1 %2 (%3, %4)")
      .arg(r.id)
      .arg(QString::fromStdString(r.name.empty() ? r.scenario : r.name),
           QString::fromStdString(format_wall_ms(r.started_ms)), QString::fromStdString(r.verdict));
}

// Latency and errors going up is worse; throughput going up is better. Changes under 5% are noise.
QColor change_color(double percent, bool higher_is_better) {
  if (std::isnan(percent) || std::fabs(percent) < 5) return {};
  bool better = higher_is_better ? percent > 0 : percent < 0;
  return better ? palette::verdict("pass") : palette::verdict("fail");
}

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
  header_ = new QLabel(this);
  header_->setTextFormat(Qt::RichText);
  header_->setWordWrap(true);
  chart_ = new ChartPanel("p99 latency, all nodes", "p99 latency (ms)", " ms", this);
  table_ = make_table({"Phase", "req/s A", "req/s B", "change", "p50 A", "p50 B", "change", "p99 A",
                       "p99 B", "change", "p99.9 A", "p99.9 B", "change", "errors A", "errors B"},
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

  auto deltas = compare_phases(baseline->summary(), candidate->summary());
  table_->setRowCount(static_cast<int>(deltas.size()));
  for (int row = 0; row < static_cast<int>(deltas.size()); ++row) {
    const PhaseDelta& d = deltas[static_cast<size_t>(row)];
    QString missing = "-";
    set_cell(table_, row, 0,
             QString::fromStdString(d.phase) + (d.in_a && d.in_b ? ""
                                                : d.in_a         ? " (A only)"
                                                                 : " (B only)"));
    auto put = [&](int column, double a, double b, QString a_text, QString b_text,
                   bool higher_is_better) {
      set_cell(table_, row, column, d.in_a ? a_text : missing, {}, true);
      set_cell(table_, row, column + 1, d.in_b ? b_text : missing, {}, true);
      double change = d.in_a && d.in_b ? percent_change(a, b) : std::nan("");
      set_cell(table_, row, column + 2, QString::fromStdString(format_change(change)),
               change_color(change, higher_is_better), true);
    };
    put(1, d.a.rps, d.b.rps, QString::number(d.a.rps, 'f', 0), QString::number(d.b.rps, 'f', 0),
        true);
    put(4, static_cast<double>(d.a.p50_ns), static_cast<double>(d.b.p50_ns), format_ns(d.a.p50_ns),
        format_ns(d.b.p50_ns), false);
    put(7, static_cast<double>(d.a.p99_ns), static_cast<double>(d.b.p99_ns), format_ns(d.a.p99_ns),
        format_ns(d.b.p99_ns), false);
    put(10, static_cast<double>(d.a.p999_ns), static_cast<double>(d.b.p999_ns),
        format_ns(d.a.p999_ns), format_ns(d.b.p999_ns), false);
    set_cell(table_, row, 13, d.in_a ? QString::number(d.a.errors) : missing, {}, true);
    set_cell(table_, row, 14, d.in_b ? QString::number(d.b.errors) : missing, {}, true);
  }
  table_->horizontalHeader()->setStretchLastSection(false);
  table_->resizeColumnsToContents();
}

}  // namespace gatedrill::gui
