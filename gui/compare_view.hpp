#pragma once
// Compare mode: two runs' p99 curves overlaid (all nodes), both runs' fault windows, and their
// phases side by side (reports' compare_runs) with the change from the baseline (the older run)
// to the candidate.
#include <QWidget>
#include <memory>

#include "gui/run_model.hpp"

class QLabel;
class QTableWidget;

namespace gatedrill::gui {

class ChartPanel;

class CompareView : public QWidget {
 public:
  explicit CompareView(QWidget* parent = nullptr);

  void show_runs(std::shared_ptr<RunModel> baseline, std::shared_ptr<RunModel> candidate);
  ChartPanel* chart() const { return chart_; }
  QTableWidget* table() const { return table_; }

 private:
  QLabel* header_;
  ChartPanel* chart_;
  QTableWidget* table_;
};

}  // namespace gatedrill::gui
