#pragma once
// A time-series chart rendered as inline SVG (no scripts, no network), for the HTML report:
// lines, stacked shares, shaded windows (fault windows) and vertical markers (phase boundaries,
// restarts). x is seconds since the load started; y is linear or logarithmic.
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace gatedrill {

struct ChartLine {
  std::string name;
  std::string color;
  std::vector<std::pair<double, double>> points;  // (x, y), x ascending
  bool dashed = false;
  bool step = false;  // hold each value until the next point (targets)
  bool in_legend = true;
};

class SvgChart {
 public:
  static constexpr double kWidth = 960, kHeight = 230;
  static constexpr double kLeft = 70, kRight = 16, kTop = 30, kBottom = 34;

  explicit SvgChart(std::string title);

  void set_x_range(double lo, double hi);
  void set_log_y(bool log_y) { log_y_ = log_y; }
  // Fixes the y range (else: 0 .. the data's max, or the data's range on a log axis).
  void set_y_range(double lo, double hi);
  void set_y_format(std::function<std::string(double)> format) { y_format_ = std::move(format); }
  // Labelled x ticks instead of the default time axis (seconds).
  void set_x_ticks(std::vector<std::pair<double, std::string>> ticks) {
    x_ticks_ = std::move(ticks);
  }

  void add_line(ChartLine line);
  // Stacked areas: layer i is drawn on top of layers 0..i-1; every layer has the same xs.
  void add_stacked(std::vector<ChartLine> layers);
  // A shaded window [x0, x1] with a label (a fault); class "fault".
  void add_window(double x0, double x1, std::string label);
  // A vertical marker (phase boundary: class "phase"; an instantaneous event: class "event").
  void add_marker(double x, std::string label, std::string css_class);

  // The pixel x of a data x (what a shaded window's rect starts at).
  double x_pixel(double x) const;
  std::string render() const;

 private:
  struct Window {
    double x0, x1;
    std::string label;
  };
  struct Marker {
    double x;
    std::string label, css_class;
  };
  double y_pixel(double y, double lo, double hi) const;
  std::pair<double, double> y_bounds() const;
  std::vector<std::pair<double, double>> thin(
      const std::vector<std::pair<double, double>>& points) const;

  std::string title_;
  double x_lo_ = 0, x_hi_ = 1;
  bool log_y_ = false;
  bool fixed_y_ = false;
  double y_lo_ = 0, y_hi_ = 1;
  std::function<std::string(double)> y_format_;
  std::vector<std::pair<double, std::string>> x_ticks_;
  std::vector<ChartLine> lines_;
  std::vector<ChartLine> stacked_;
  std::vector<Window> windows_;
  std::vector<Marker> markers_;
};

}  // namespace gatedrill
