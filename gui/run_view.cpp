#include "gui/run_view.hpp"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>

#include "gui/chart_panel.hpp"
#include "reports/report_text.hpp"

namespace gatedrill::gui {

QTableWidget* make_table(const QStringList& headers, QWidget* parent) {
  auto* table = new QTableWidget(0, static_cast<int>(headers.size()), parent);
  table->setHorizontalHeaderLabels(headers);
  table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table->setSelectionBehavior(QAbstractItemView::SelectRows);
  table->setAlternatingRowColors(true);
  table->verticalHeader()->setVisible(false);
  table->verticalHeader()->setDefaultSectionSize(table->fontMetrics().height() + 6);
  table->horizontalHeader()->setHighlightSections(false);
  table->horizontalHeader()->setStretchLastSection(true);
  table->setWordWrap(false);
  return table;
}

void set_cell(QTableWidget* table, int row, int column, const QString& text, const QColor& color,
              bool right_align) {
  auto* item = new QTableWidgetItem(text);
  if (color.isValid()) item->setForeground(color);
  if (right_align) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  item->setToolTip(text);
  table->setItem(row, column, item);
}

QString format_ns(int64_t ns) {
  return QString::fromStdString(format_latency_ns(ns));
}

namespace {

QString format_rate(double rps) {
  return rps > 0 ? QString::number(rps, 'f', rps >= 100 ? 0 : 1) : "max";
}

QString status_text(const std::map<int, int64_t>& counts) {
  QStringList parts;
  for (const auto& [status, count] : counts) parts << QString("%1: %2").arg(status).arg(count);
  return parts.join(", ");
}

const std::map<std::string, LineStyle>& rps_styles() {
  static const std::map<std::string, LineStyle> styles = {
      {"achieved", {QColor(0, 114, 178), Qt::SolidLine, 1.8}},
      {"target", {QColor(150, 150, 150), Qt::DashLine, 2.5}},
  };
  return styles;
}

const std::map<std::string, LineStyle>& latency_styles() {
  static const std::map<std::string, LineStyle> styles = {
      {"p50", {QColor(0, 158, 115), Qt::SolidLine, 1.6}},
      {"p99", {QColor(0, 114, 178), Qt::SolidLine, 1.8}},
      {"p99.9", {QColor(213, 94, 0), Qt::SolidLine, 1.4}},
  };
  return styles;
}

const std::map<std::string, LineStyle>& status_styles() {
  static const std::map<std::string, LineStyle> styles = {
      {"2xx", {QColor(0, 150, 80), Qt::SolidLine, 1.8}},
      {"4xx", {QColor(230, 150, 0), Qt::SolidLine, 1.8}},
      {"5xx", {QColor(200, 30, 30), Qt::SolidLine, 1.8}},
      {"no response", {QColor(110, 110, 110), Qt::DotLine, 1.6}},
  };
  return styles;
}

}  // namespace

RunView::RunView(QWidget* parent) : QWidget(parent) {
  header_ = new QLabel(this);
  header_->setTextFormat(Qt::RichText);
  header_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  header_->setWordWrap(true);

  node_box_ = new QComboBox(this);
  node_box_->setMinimumContentsLength(8);
  node_box_->setToolTip("Show one gateway node, or all of them merged");
  log_box_ = new QCheckBox("Latency: log scale", this);
  auto* hint =
      new QLabel("Drag on a chart to zoom, double-click to reset; hover for values.", this);
  hint->setStyleSheet("color: #777");
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel("Node:", this));
  controls->addWidget(node_box_);
  controls->addSpacing(16);
  controls->addWidget(log_box_);
  controls->addStretch(1);
  controls->addWidget(hint);

  rps_ = new ChartPanel("Request rate", "rate (req/s)", " req/s", this);
  latency_ = new ChartPanel("Latency (from planned send time)", "latency (ms)", " ms", this);
  status_ = new ChartPanel("Status classes", "share (% of requests)", " %", this);
  status_->set_y_max(100);
  cpu_ = new ChartPanel("CPU per node", "CPU (% of one core)", " %", this);
  rss_ = new ChartPanel("Memory per node", "RSS (MiB)", " MiB", this);
  current_ = latency_;
  for (auto* chart : charts()) chart->on_activated([this](ChartPanel* c) { current_ = c; });

  auto* charts_widget = new QWidget(this);
  auto* charts_layout = new QVBoxLayout(charts_widget);
  charts_layout->setContentsMargins(0, 0, 0, 0);
  charts_layout->setSpacing(4);
  auto* top = new QHBoxLayout;
  top->setSpacing(4);
  top->addWidget(rps_);
  top->addWidget(latency_);
  auto* bottom = new QHBoxLayout;
  bottom->setSpacing(4);
  bottom->addWidget(status_);
  bottom->addWidget(cpu_);
  bottom->addWidget(rss_);
  charts_layout->addLayout(top, 3);
  charts_layout->addLayout(bottom, 2);

  phases_ = make_table({"Phase", "Target req/s", "Achieved req/s", "Seconds", "Requests", "Errors",
                        "p50", "p90", "p99", "p99.9", "Max", "Statuses"},
                       this);
  phases_->setToolTip("All nodes; percentiles from the phase's merged histograms (exact)");
  thresholds_ = make_table({"Result", "Check", "Observed", "On failure"}, this);
  events_ = make_table({"At (s)", "Kind", "Name", "Node", "Lasted", "Detail"}, this);
  tabs_ = new QTabWidget(this);
  tabs_->addTab(phases_, "Phases");
  tabs_->addTab(thresholds_, "Thresholds && expectations");
  tabs_->addTab(events_, "Events");
  tabs_->setMinimumHeight(150);

  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(charts_widget);
  split->addWidget(tabs_);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 0);
  split->setChildrenCollapsible(false);
  split->setSizes({640, 170});

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 4, 6, 4);
  layout->setSpacing(4);
  layout->addWidget(header_);
  layout->addLayout(controls);
  layout->addWidget(split, 1);

  QObject::connect(node_box_, &QComboBox::currentTextChanged, this,
                   [this](const QString&) { redraw(); });
  QObject::connect(log_box_, &QCheckBox::toggled, this,
                   [this](bool on) { latency_->set_log_y(on); });
}

std::vector<ChartPanel*> RunView::charts() const {
  return {rps_, latency_, status_, cpu_, rss_};
}

void RunView::show_run(std::shared_ptr<RunModel> model) {
  model_ = std::move(model);
  {
    QSignalBlocker block(node_box_);
    node_box_->clear();
    if (model_)
      for (const auto& node : model_->nodes()) node_box_->addItem(QString::fromStdString(node));
  }
  fill_header();
  fill_tables();
  redraw();
}

void RunView::refresh() {
  if (!model_) return;
  QString keep = node();
  {
    QSignalBlocker block(node_box_);
    node_box_->clear();
    for (const auto& node : model_->nodes()) node_box_->addItem(QString::fromStdString(node));
    int index = node_box_->findText(keep);
    node_box_->setCurrentIndex(index >= 0 ? index : 0);
  }
  fill_header();
  fill_tables();
  redraw();
}

void RunView::refresh_tables() {
  fill_header();
  fill_tables();
}

void RunView::set_node(const QString& node) {
  int index = node_box_->findText(node);
  if (index >= 0) node_box_->setCurrentIndex(index);
}

QString RunView::node() const {
  return node_box_->currentText();
}

void RunView::set_log_latency(bool log) {
  log_box_->setChecked(log);
}

bool RunView::log_latency() const {
  return log_box_->isChecked();
}

void RunView::fill_header() {
  if (!model_) {
    header_->setText("");
    return;
  }
  const RunRecord& run = model_->run();
  QColor color = palette::verdict(run.verdict);
  QString verdict =
      QString(
          "<span style='background-color:%1; color:white; font-weight:600'>&nbsp;%2&nbsp;</span>")
          .arg(color.name(), QString::fromStdString(run.verdict).toUpper().toHtmlEscaped());
  QString name = QString::fromStdString(run.name.empty() ? run.scenario : run.name).toHtmlEscaped();
  QString params = QString::fromStdString(format_params(run.params_json)).toHtmlEscaped();
  QString first = QString(
                      "<span style='font-size:15pt; font-weight:600'>%1</span>&nbsp;&nbsp;%2"
                      "&nbsp;&nbsp;<span style='color:#555'>run %3 &middot; %4</span>")
                      .arg(name, verdict)
                      .arg(run.id)
                      .arg(QString::fromStdString(run.scenario).toHtmlEscaped());
  QStringList facts;
  facts << "started " + QString::fromStdString(format_wall_time(run.started_ms));
  facts << "duration " + QString::fromStdString(format_run_duration(run)).toHtmlEscaped();
  facts << "params " + (params.isEmpty() ? QString("(none)") : "<code>" + params + "</code>");
  if (run.exit_code >= 0) facts << QString("exit %1").arg(run.exit_code);
  if (!run.host.empty()) facts << "host " + QString::fromStdString(run.host).toHtmlEscaped();
  if (!run.git_describe.empty())
    facts << "build " + QString::fromStdString(run.git_describe).toHtmlEscaped();
  facts << QString("%1 samples").arg(model_->sample_count());
  const auto& checks = model_->summary().thresholds;
  if (!checks.empty()) {
    auto failed = std::count_if(checks.begin(), checks.end(),
                                [](const ThresholdRecord& t) { return !t.pass; });
    QString tally = failed == 0 ? QString("all %1 checks passed").arg(checks.size())
                                : QString("%1 of %2 checks failed").arg(failed).arg(checks.size());
    facts << QString("<span style='color:%1; font-weight:600'>%2</span>")
                 .arg(palette::verdict(failed == 0 ? "pass" : "fail").name(), tally);
  }
  header_->setText(first + "<br><span style='color:#444'>" + facts.join(" &middot; ") + "</span>");
}

void RunView::fill_tables() {
  phases_->setRowCount(0);
  thresholds_->setRowCount(0);
  events_->setRowCount(0);
  if (!model_) return;
  const RunSummary& summary = model_->summary();

  tabs_->setTabText(
      0, model_->has_phase_reports() ? "Phases (all nodes)" : "Phases (merging histograms...)");
  auto failed = std::count_if(summary.thresholds.begin(), summary.thresholds.end(),
                              [](const ThresholdRecord& t) { return !t.pass; });
  tabs_->setTabText(1, failed > 0 ? QString("Thresholds && expectations (%1 failed)").arg(failed)
                                  : QString("Thresholds && expectations"));
  tabs_->setTabText(2, QString("Events (%1)").arg(summary.events.size()));
  phases_->setRowCount(static_cast<int>(summary.phases.size()));
  for (int row = 0; row < static_cast<int>(summary.phases.size()); ++row) {
    const PhaseReport& p = summary.phases[static_cast<size_t>(row)];
    set_cell(phases_, row, 0, QString::fromStdString(p.name));
    set_cell(phases_, row, 1, format_rate(p.target_rate), {}, true);
    set_cell(phases_, row, 2, QString::number(p.rps, 'f', 0), {}, true);
    set_cell(phases_, row, 3, QString::number(p.seconds), {}, true);
    set_cell(phases_, row, 4, QString::number(p.requests), {}, true);
    set_cell(phases_, row, 5, QString::number(p.errors),
             p.errors > 0 ? palette::verdict("fail") : QColor(), true);
    set_cell(phases_, row, 6, format_ns(p.p50_ns), {}, true);
    set_cell(phases_, row, 7, format_ns(p.p90_ns), {}, true);
    set_cell(phases_, row, 8, format_ns(p.p99_ns), {}, true);
    set_cell(phases_, row, 9, format_ns(p.p999_ns), {}, true);
    set_cell(phases_, row, 10, format_ns(p.max_ns), {}, true);
    set_cell(phases_, row, 11, status_text(p.status_counts));
  }
  phases_->resizeColumnsToContents();

  thresholds_->setRowCount(static_cast<int>(summary.thresholds.size()));
  for (int row = 0; row < static_cast<int>(summary.thresholds.size()); ++row) {
    const ThresholdRecord& t = summary.thresholds[static_cast<size_t>(row)];
    auto* result = new QTableWidgetItem(t.pass ? "PASS" : "FAIL");
    result->setForeground(Qt::white);
    result->setBackground(palette::verdict(t.pass ? "pass" : "fail"));
    result->setTextAlignment(Qt::AlignCenter);
    QFont bold = result->font();
    bold.setBold(true);
    result->setFont(bold);
    thresholds_->setItem(row, 0, result);
    set_cell(thresholds_, row, 1, QString::fromStdString(t.expression));
    set_cell(thresholds_, row, 2, QString::fromStdString(t.observed_text), {}, true);
    set_cell(thresholds_, row, 3, t.abort_on_fail ? "aborts the run" : "");
  }
  thresholds_->resizeColumnsToContents();

  int64_t origin = model_->origin_ms();
  events_->setRowCount(static_cast<int>(summary.events.size()));
  for (int row = 0; row < static_cast<int>(summary.events.size()); ++row) {
    const EventRecord& e = summary.events[static_cast<size_t>(row)];
    set_cell(events_, row, 0,
             QString::number(static_cast<double>(e.start_ms - origin) / 1000.0, 'f', 1), {}, true);
    set_cell(events_, row, 1, QString::fromStdString(e.kind),
             e.kind == "fault" ? palette::kFault.darker(120) : QColor());
    set_cell(events_, row, 2, QString::fromStdString(e.name));
    set_cell(events_, row, 3, QString::fromStdString(e.node.empty() ? "(run)" : e.node));
    set_cell(events_, row, 4,
             e.end_ms > e.start_ms ? QString::fromStdString(format_seconds(
                                         static_cast<double>(e.end_ms - e.start_ms) / 1000.0))
                                   : QString(),
             {}, true);
    set_cell(events_, row, 5, QString::fromStdString(e.detail_json));
  }
  events_->resizeColumnsToContents();
}

void RunView::redraw() {
  if (!model_ || node_box_->count() == 0) {
    for (auto* chart : charts()) {
      chart->set_lines({});
      chart->set_fault_windows({});
    }
    return;
  }
  std::string selected = node().toStdString();
  double x_max = static_cast<double>(model_->last_second() + 1);
  int64_t origin = model_->origin_ms();
  for (const auto& p : model_->phases())
    x_max = std::max(x_max, static_cast<double>(p.ended_ms - origin) / 1000.0);
  auto windows = model_->fault_windows(selected);
  std::weak_ptr<RunModel> weak = model_;
  auto phase_of = [weak](double second) {
    auto model = weak.lock();
    return model ? model->phase_at(second) : std::string();
  };

  for (auto* chart : charts()) chart->set_x_range(0, x_max);
  // The target first, so that the achieved line is drawn over it.
  rps_->set_lines({model_->target_rps(selected), model_->achieved_rps(selected)}, rps_styles());
  latency_->set_log_y(log_box_->isChecked());
  latency_->set_lines(model_->latency_ms(selected), latency_styles());
  status_->set_lines(model_->status_share(selected), status_styles());
  cpu_->set_lines(model_->cpu_pct(selected));
  rss_->set_lines(model_->rss_mib(selected));
  std::vector<std::pair<double, std::string>> phase_marks;
  for (const auto& p : model_->phases())
    phase_marks.emplace_back(static_cast<double>(p.started_ms - origin) / 1000.0, p.name);
  for (auto* chart : charts()) {
    chart->set_phase_marks(phase_marks);
    chart->set_fault_windows(windows);
    chart->set_phase_lookup(phase_of);
  }
}

}  // namespace gatedrill::gui
