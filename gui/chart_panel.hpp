#pragma once
// One dashboard chart: lines over seconds since the load started, the run's fault windows shaded
// behind them (labelled), tooltips with the value under the mouse, an optional log y axis,
// drag-to-zoom on x (double-click resets) and PNG export. No moc: signals go to lambdas.
#include <QChartView>
#include <QColor>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gui/run_model.hpp"

class QAbstractAxis;
class QGraphicsLineItem;
class QGraphicsRectItem;
class QGraphicsSimpleTextItem;
class QLineSeries;
class QValueAxis;

namespace gatedrill::gui {

struct LineStyle {
  QColor color;
  Qt::PenStyle pen = Qt::SolidLine;
  qreal width = 1.8;
};

class ChartPanel : public QChartView {
 public:
  // value_suffix is appended to values in tooltips (" ms", " req/s").
  ChartPanel(const QString& title, const QString& y_title, const QString& value_suffix,
             QWidget* parent = nullptr);

  // Replaces the lines; a style per series name, otherwise the palette in order.
  void set_lines(const std::vector<Series>& lines,
                 const std::map<std::string, LineStyle>& styles = {});
  void set_fault_windows(std::vector<FaultWindow> windows);
  // Phase starts: a faint dotted line and the phase's name at the bottom of the plot.
  void set_phase_marks(std::vector<std::pair<double, std::string>> marks);
  // The x range every chart of a run shares (seconds; the axis shows minutes past 30 min).
  void set_x_range(double min_s, double max_s);
  void set_log_y(bool log);
  // A fixed y maximum (100 for shares); 0: from the data.
  void set_y_max(double y_max) { fixed_y_max_ = y_max; }
  // Names the phase of a second in tooltips.
  void set_phase_lookup(std::function<std::string(double)> lookup) {
    phase_of_ = std::move(lookup);
  }
  // Called when the chart is clicked (the window's "current chart" for export).
  void on_activated(std::function<void(ChartPanel*)> callback) {
    on_activated_ = std::move(callback);
  }

  bool save_png(const QString& path);
  QString title() const;
  // For tests: the points given, and the points drawn (an envelope of them when there are more
  // than two per pixel column).
  size_t data_point_count() const;
  size_t point_count() const;
  size_t line_count() const { return lines_.size(); }
  const std::vector<FaultWindow>& fault_windows() const { return windows_; }
  // Where a second falls, in the chart's coordinates (the bands are laid out with it).
  double x_to_px(double x) const;

 protected:
  void mousePressEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;

 private:
  void rebuild_y_axis();
  QFont scaled_font(double factor) const;
  // Hands the series the envelope of their points for the visible x range and plot width.
  void refill();
  void schedule_refill();
  void layout_bands();
  void show_tooltip(size_t line, const QPointF& at);

  QChart* chart_;
  QValueAxis* x_axis_;
  QAbstractAxis* y_axis_ = nullptr;
  QString y_title_, value_suffix_;
  bool log_y_ = false;
  double fixed_y_max_ = 0;
  double x_min_ = 0, x_max_ = 1;  // seconds
  double x_unit_ = 1;             // seconds per x axis unit: 1, or 60 for long runs
  std::vector<Series> lines_;
  std::map<std::string, LineStyle> styles_;
  std::vector<QLineSeries*> series_;  // owned by chart_, parallel to lines_
  double filled_lo_ = 0, filled_hi_ = 0, filled_width_ = -1;
  bool refill_pending_ = false;
  std::vector<FaultWindow> windows_;
  std::vector<QGraphicsRectItem*> band_items_;
  std::vector<QGraphicsSimpleTextItem*> band_labels_;
  std::vector<std::pair<double, std::string>> phase_marks_;
  std::vector<QGraphicsLineItem*> phase_lines_;
  std::vector<QGraphicsSimpleTextItem*> phase_labels_;
  std::function<std::string(double)> phase_of_;
  std::function<void(ChartPanel*)> on_activated_;
};

// The colours the dashboard uses (colour-blind friendly, after Okabe-Ito).
namespace palette {
QColor series(size_t index);
QColor verdict(
    const std::string& verdict);  // pass green, fail red, error/aborted orange, running blue
inline const QColor kFault{230, 120, 0};
inline const QColor kMark{200, 30, 30};
}  // namespace palette

}  // namespace gatedrill::gui
