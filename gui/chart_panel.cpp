#include "gui/chart_panel.hpp"

#include <QBrush>
#include <QChart>
#include <QCursor>
#include <QGraphicsLayout>
#include <QGraphicsLineItem>
#include <QGraphicsRectItem>
#include <QGraphicsSimpleTextItem>
#include <QLegend>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QMouseEvent>
#include <QPen>
#include <QTimer>
#include <QToolTip>
#include <QValueAxis>
#include <algorithm>
#include <cmath>
#include <iterator>

namespace gatedrill::gui {

namespace palette {

QColor series(size_t index) {
  static const QColor colors[] = {
      {0, 114, 178},    // blue
      {213, 94, 0},     // vermillion
      {0, 158, 115},    // bluish green
      {204, 121, 167},  // reddish purple
      {86, 180, 233},   // sky blue
      {230, 159, 0},    // orange
      {90, 90, 90},     // grey
  };
  return colors[index % (sizeof colors / sizeof colors[0])];
}

QColor verdict(const std::string& verdict) {
  if (verdict == "pass") return {0, 140, 70};
  if (verdict == "fail") return {200, 30, 30};
  if (verdict == "running") return {0, 100, 200};
  return {210, 110, 0};  // error, aborted, anything new
}

}  // namespace palette

namespace {

// Z order inside the chart: Qt Charts draws the plot background at 0, grid at 2, series at 4+.
constexpr qreal kBandZ = 0.5;
constexpr qreal kBandLabelZ = 20;

QString label_format_for(double max) {
  if (max >= 10) return "%.0f";
  if (max >= 1) return "%.1f";
  return "%.2f";
}

QString format_value(double v) {
  if (std::fabs(v) >= 100) return QString::number(v, 'f', 0);
  if (std::fabs(v) >= 1) return QString::number(v, 'f', 2);
  return QString::number(v, 'f', 3);
}

// The chart's graphics items are children of the chart; replacing them deletes the old ones.
template <class Item>
void delete_all(std::vector<Item*>& items) {
  for (auto* item : items) delete item;
  items.clear();
}

}  // namespace

QFont ChartPanel::scaled_font(double factor) const {
  QFont f = font();
  f.setPointSizeF(f.pointSizeF() * factor);
  return f;
}

ChartPanel::ChartPanel(const QString& title, const QString& y_title, const QString& value_suffix,
                       QWidget* parent)
    : QChartView(parent),
      chart_(new QChart),
      x_axis_(new QValueAxis),
      y_title_(y_title),
      value_suffix_(value_suffix) {
  setChart(chart_);  // the view owns the chart
  setRenderHint(QPainter::Antialiasing);
  setRubberBand(QChartView::HorizontalRubberBand);
  setMinimumSize(320, 210);
  setBackgroundBrush(Qt::white);

  QFont title_font = font();
  title_font.setPointSizeF(title_font.pointSizeF() * 1.1);
  title_font.setBold(true);
  chart_->setTitle(title);
  chart_->setTitleFont(title_font);
  chart_->setBackgroundVisible(false);  // the view paints white; bands sit below the grid
  chart_->setMargins(QMargins(2, 2, 6, 2));
  chart_->layout()->setContentsMargins(0, 0, 0, 0);
  chart_->legend()->setAlignment(Qt::AlignTop);
  QFont small = scaled_font(0.9);
  chart_->legend()->setFont(small);

  x_axis_->setTitleText("time since load start (s)");
  x_axis_->setLabelFormat("%.0f");
  x_axis_->setTitleFont(small);
  x_axis_->setLabelsFont(small);
  x_axis_->setGridLineColor(QColor(225, 225, 225));
  chart_->addAxis(x_axis_, Qt::AlignBottom);

  QObject::connect(chart_, &QChart::plotAreaChanged, this, [this](const QRectF&) {
    layout_bands();
    schedule_refill();
  });
  QObject::connect(x_axis_, &QValueAxis::rangeChanged, this, [this](qreal, qreal) {
    layout_bands();
    schedule_refill();  // zoomed: the visible seconds get the detail
  });
  rebuild_y_axis();
}

QString ChartPanel::title() const {
  return chart_->title();
}

void ChartPanel::set_lines(const std::vector<Series>& lines,
                           const std::map<std::string, LineStyle>& styles) {
  chart_->removeAllSeries();
  series_.clear();
  lines_ = lines;
  styles_ = styles;
  size_t next_color = 0;
  for (size_t i = 0; i < lines_.size(); ++i) {
    auto* series = new QLineSeries;
    series->setName(QString::fromStdString(lines_[i].name));
    LineStyle style;
    if (auto it = styles_.find(lines_[i].name); it != styles_.end())
      style = it->second;
    else
      style.color = palette::series(next_color++);
    QPen pen(style.color, style.width, style.pen);
    pen.setCapStyle(Qt::RoundCap);
    series->setPen(pen);
    chart_->addSeries(series);
    series->attachAxis(x_axis_);
    series_.push_back(series);
    QObject::connect(series, &QLineSeries::hovered, this, [this, i](const QPointF& at, bool state) {
      if (state)
        show_tooltip(i, at);
      else
        QToolTip::hideText();
    });
  }
  filled_width_ = -1;
  refill();
  rebuild_y_axis();
}

void ChartPanel::refill() {
  double lo = x_axis_->min() * x_unit_, hi = x_axis_->max() * x_unit_;  // seconds
  double width = chart_->plotArea().width() > 0 ? chart_->plotArea().width() : this->width();
  if (lo == filled_lo_ && hi == filled_hi_ && width == filled_width_) return;
  filled_lo_ = lo;
  filled_hi_ = hi;
  filled_width_ = width;
  // Two points (a low and a high) per pixel column show everything the pixels can.
  auto max_points = static_cast<size_t>(std::max(600.0, 2 * width));
  for (size_t i = 0; i < series_.size(); ++i) {
    const std::vector<Point>* source = &lines_[i].points;
    std::vector<Point> positive;
    if (log_y_) {  // a log axis cannot show 0
      std::copy_if(source->begin(), source->end(), std::back_inserter(positive),
                   [](const Point& p) { return p.y > 0; });
      source = &positive;
    }
    QList<QPointF> points;
    for (const auto& p : envelope(*source, lo, hi, max_points))
      points.append(QPointF(p.x / x_unit_, p.y));
    series_[i]->replace(points);
  }
}

void ChartPanel::schedule_refill() {
  if (refill_pending_) return;
  refill_pending_ = true;
  QTimer::singleShot(0, this, [this] {
    refill_pending_ = false;
    refill();
  });
}

void ChartPanel::set_log_y(bool log) {
  if (log == log_y_) return;
  log_y_ = log;
  set_lines(std::vector<Series>(lines_), std::map<std::string, LineStyle>(styles_));
}

void ChartPanel::rebuild_y_axis() {
  if (y_axis_) {
    chart_->removeAxis(y_axis_);
    delete y_axis_;
    y_axis_ = nullptr;
  }
  double max = 0, min_positive = 0;
  for (const auto& s : lines_)
    for (const auto& p : s.points) {
      max = std::max(max, p.y);
      if (p.y > 0 && (min_positive == 0 || p.y < min_positive)) min_positive = p.y;
    }
  QFont small = scaled_font(0.9);
  if (log_y_) {
    auto* axis = new QLogValueAxis;
    axis->setBase(10);
    double lo = min_positive > 0 ? std::pow(10, std::floor(std::log10(min_positive))) : 0.1;
    double hi = max > 0 ? std::pow(10, std::ceil(std::log10(max))) : 10;
    if (hi <= lo) hi = lo * 10;
    axis->setRange(lo, hi);
    axis->setLabelFormat("%g");
    axis->setMinorTickCount(8);
    axis->setMinorGridLineColor(QColor(240, 240, 240));
    y_axis_ = axis;
  } else {
    auto* axis = new QValueAxis;
    double hi = fixed_y_max_ > 0 ? fixed_y_max_ : (max > 0 ? max * 1.08 : 1);
    axis->setRange(0, hi);
    if (fixed_y_max_ <= 0) axis->applyNiceNumbers();
    axis->setLabelFormat(label_format_for(axis->max()));
    y_axis_ = axis;
  }
  y_axis_->setTitleText(y_title_);
  y_axis_->setTitleFont(small);
  y_axis_->setLabelsFont(small);
  y_axis_->setGridLineColor(QColor(225, 225, 225));
  chart_->addAxis(y_axis_, Qt::AlignLeft);
  for (auto* series : chart_->series()) series->attachAxis(y_axis_);
  layout_bands();
}

void ChartPanel::set_x_range(double min_s, double max_s) {
  x_min_ = min_s;
  x_max_ = std::max(max_s, min_s + 1);
  // Past half an hour, minutes read better than thousands of seconds.
  double unit = x_max_ - x_min_ > 1800 ? 60 : 1;
  if (unit != x_unit_) {
    x_unit_ = unit;
    x_axis_->setTitleText(unit == 60 ? "time since load start (min)" : "time since load start (s)");
    filled_width_ = -1;
  }
  x_axis_->setRange(x_min_ / x_unit_, x_max_ / x_unit_);
  refill();
  layout_bands();
}

void ChartPanel::set_fault_windows(std::vector<FaultWindow> windows) {
  delete_all(band_items_);
  delete_all(band_labels_);
  windows_ = std::move(windows);
  QFont small = scaled_font(0.85);
  for (const auto& w : windows_) {
    bool mark = w.end_s <= w.start_s;
    QColor color = w.kind == "fault" ? palette::kFault : palette::kMark;
    auto* rect = new QGraphicsRectItem(chart_);
    rect->setZValue(kBandZ);
    if (mark) {
      rect->setBrush(color);
      rect->setPen(Qt::NoPen);
    } else {
      QColor fill = color;
      fill.setAlpha(45);
      rect->setBrush(fill);
      QColor edge = color;
      edge.setAlpha(110);
      rect->setPen(QPen(edge, 1, Qt::DashLine));
    }
    QString tip = QString::fromStdString(w.label) +
                  QString("\n%1 s .. %2 s").arg(w.start_s, 0, 'f', 1).arg(w.end_s, 0, 'f', 1);
    if (!w.detail_json.empty() && w.detail_json != "{}")
      tip += "\n" + QString::fromStdString(w.detail_json);
    rect->setToolTip(tip);
    band_items_.push_back(rect);
    auto* label = new QGraphicsSimpleTextItem(QString::fromStdString(w.label), chart_);
    label->setFont(small);
    label->setBrush(color.darker(130));
    label->setZValue(kBandLabelZ);
    band_labels_.push_back(label);
  }
  layout_bands();
}

double ChartPanel::x_to_px(double x) const {
  QRectF plot = chart_->plotArea();
  double lo = x_axis_->min() * x_unit_, hi = x_axis_->max() * x_unit_;
  if (hi <= lo) return plot.left();
  return plot.left() + (x - lo) / (hi - lo) * plot.width();
}

void ChartPanel::set_phase_marks(std::vector<std::pair<double, std::string>> marks) {
  delete_all(phase_lines_);
  delete_all(phase_labels_);
  phase_marks_ = std::move(marks);
  QFont small = scaled_font(0.8);
  for (const auto& [x, name] : phase_marks_) {
    auto* line = new QGraphicsLineItem(chart_);
    line->setPen(QPen(QColor(150, 150, 150), 1, Qt::DotLine));
    line->setZValue(kBandZ);
    phase_lines_.push_back(line);
    auto* label = new QGraphicsSimpleTextItem(QString::fromStdString(name), chart_);
    label->setFont(small);
    label->setBrush(QColor(120, 120, 120));
    label->setZValue(kBandLabelZ);
    phase_labels_.push_back(label);
  }
  layout_bands();
}

void ChartPanel::layout_bands() {
  QRectF plot = chart_->plotArea();
  double label_end = plot.left() - 10;  // right edge of the last phase name drawn
  for (size_t i = 0; i < phase_lines_.size(); ++i) {
    double x = x_to_px(phase_marks_[i].first);
    bool visible = x >= plot.left() && x < plot.right() - 1;
    phase_lines_[i]->setVisible(visible && x > plot.left() + 1);  // no line on the y axis
    phase_labels_[i]->setVisible(visible);
    if (!visible) continue;
    phase_lines_[i]->setLine(x, plot.top(), x, plot.bottom());
    QRectF box = phase_labels_[i]->boundingRect();
    // A short phase on a narrow chart: its name would print over the previous one; the dotted
    // line stays and the tooltips still name it.
    bool fits = x + 3 >= label_end + 4 && x + 3 + box.width() <= plot.right();
    phase_labels_[i]->setVisible(fits);
    if (!fits) continue;
    phase_labels_[i]->setPos(x + 3, plot.bottom() - box.height() - 1);
    label_end = x + 3 + box.width();
  }
  struct Placed {
    int row;
    double left, right;
  };
  std::vector<Placed> placed;
  for (size_t i = 0; i < band_items_.size(); ++i) {
    const FaultWindow& w = windows_[i];
    double left = x_to_px(w.start_s);
    double right = w.end_s > w.start_s ? x_to_px(w.end_s) : left + 2;
    double clipped_left = std::max(left, plot.left());
    double clipped_right = std::min(right, plot.right());
    bool visible = clipped_right > clipped_left;
    band_items_[i]->setVisible(visible);
    band_labels_[i]->setVisible(visible);
    if (!visible) continue;
    band_items_[i]->setRect(
        QRectF(clipped_left, plot.top(), clipped_right - clipped_left, plot.height()));
    // Near the right edge the label goes left of the band, so it is not clipped; labels that
    // would overlap an earlier one move down a row.
    QRectF box = band_labels_[i]->boundingRect();
    double x = std::max(plot.left(), std::min(clipped_left + 3, plot.right() - box.width() - 2));
    int row = 0;
    auto taken = [&](const Placed& p) {
      return p.row == row && x < p.right + 4 && p.left < x + box.width() + 4;
    };
    while (std::any_of(placed.begin(), placed.end(), taken)) ++row;
    placed.push_back({row, x, x + box.width()});
    band_labels_[i]->setPos(x, plot.top() + 2 + row * (box.height() + 1));
  }
}

size_t ChartPanel::data_point_count() const {
  size_t n = 0;
  for (const auto& s : lines_) n += s.points.size();
  return n;
}

size_t ChartPanel::point_count() const {
  size_t n = 0;
  for (const auto* series : chart_->series())
    if (const auto* line = qobject_cast<const QLineSeries*>(series))
      n += static_cast<size_t>(line->count());
  return n;
}

void ChartPanel::show_tooltip(size_t line, const QPointF& at) {
  if (line >= lines_.size() || lines_[line].points.empty()) return;
  const auto& points = lines_[line].points;
  double second = at.x() * x_unit_;
  auto it = std::lower_bound(points.begin(), points.end(), second,
                             [](const Point& p, double x) { return p.x < x; });
  if (it == points.end()) --it;
  if (it != points.begin() && std::fabs(std::prev(it)->x - second) < std::fabs(it->x - second))
    --it;
  QString text = QString("<b>%1</b><br>%2 = %3%4<br>t = %5 s")
                     .arg(QString::fromStdString(lines_[line].name).toHtmlEscaped(),
                          y_title_.section(' ', 0, 0), format_value(it->y), value_suffix_,
                          QString::number(it->x, 'f', 0));
  if (phase_of_) {
    std::string phase = phase_of_(it->x);
    if (!phase.empty()) text += " (" + QString::fromStdString(phase).toHtmlEscaped() + ")";
  }
  for (const auto& w : windows_)
    if (it->x >= w.start_s && it->x <= std::max(w.end_s, w.start_s + 1))
      text += "<br><span style='color:#b05a00'>during " +
              QString::fromStdString(w.label).toHtmlEscaped() + "</span>";
  QToolTip::showText(QCursor::pos(), text, this);
}

bool ChartPanel::save_png(const QString& path) {
  return grab().save(path, "PNG");
}

void ChartPanel::mousePressEvent(QMouseEvent* event) {
  if (on_activated_) on_activated_(this);
  QChartView::mousePressEvent(event);
}

void ChartPanel::mouseDoubleClickEvent(QMouseEvent* event) {
  chart_->zoomReset();
  x_axis_->setRange(x_min_ / x_unit_, x_max_ / x_unit_);
  QChartView::mouseDoubleClickEvent(event);
}

}  // namespace gatedrill::gui
