#pragma once
// The right-hand side for one run: a header (scenario, params, verdict), a node selector, the
// five charts (rate, latency, status share, CPU, RSS) with fault windows, and the per-phase,
// thresholds/expectations and events tables.
#include <QWidget>
#include <memory>
#include <vector>

#include "gui/run_model.hpp"

class QCheckBox;
class QComboBox;
class QLabel;
class QTabWidget;
class QTableWidget;

namespace gatedrill::gui {

class ChartPanel;

class RunView : public QWidget {
 public:
  explicit RunView(QWidget* parent = nullptr);

  // Shows a run from scratch (node back to "all").
  void show_run(std::shared_ptr<RunModel> model);
  // The model gained seconds (live refresh): redraws, keeping the node and the log setting.
  void refresh();
  // The model's phase reports arrived (they are merged off the UI thread).
  void refresh_tables();
  const std::shared_ptr<RunModel>& model() const { return model_; }

  void set_node(const QString& node);
  QString node() const;
  void set_log_latency(bool log);
  bool log_latency() const;

  std::vector<ChartPanel*> charts() const;
  // The chart last clicked (the latency chart until then).
  ChartPanel* current_chart() const { return current_; }
  QTableWidget* phase_table() const { return phases_; }
  QTableWidget* threshold_table() const { return thresholds_; }

 private:
  void redraw();
  void fill_header();
  void fill_tables();

  std::shared_ptr<RunModel> model_;
  QLabel* header_;
  QComboBox* node_box_;
  QCheckBox* log_box_;
  ChartPanel* rps_;
  ChartPanel* latency_;
  ChartPanel* status_;
  ChartPanel* cpu_;
  ChartPanel* rss_;
  ChartPanel* current_;
  QTableWidget* phases_;
  QTableWidget* thresholds_;
  QTableWidget* events_;
  QTabWidget* tabs_;
};

// Shared by the run and compare views: a read-only, compact table.
QTableWidget* make_table(const QStringList& headers, QWidget* parent);
void set_cell(QTableWidget* table, int row, int column, const QString& text,
              const QColor& color = QColor(), bool right_align = false);
// "1.25ms" from nanoseconds; "-" for 0 (reports' format_latency_ns).
QString format_ns(int64_t ns);

}  // namespace gatedrill::gui
