#include "reports/svg_chart.hpp"

#include <algorithm>
#include <cmath>

#include "reports/report_text.hpp"

namespace gatedrill {

namespace {

constexpr double kPlotRight = SvgChart::kWidth - SvgChart::kRight;
constexpr double kPlotBottom = SvgChart::kHeight - SvgChart::kBottom;

// 1, 2 or 5 times a power of ten, about range/target.
double nice_step(double range, int target) {
  if (range <= 0) return 1;
  double raw = range / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

// A step for a time axis in seconds: 1, 2, 5, 10, 15, 30 s, then whole minutes.
double time_step(double range, int target) {
  static const double kSteps[] = {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600};
  for (double step : kSteps)
    if (range / step <= target) return step;
  return nice_step(range, target);
}

std::string default_format(double v) {
  return strprintf("%g", v);
}

std::string x_label(double seconds) {
  if (seconds < 120) return strprintf("%gs", seconds);
  int s = static_cast<int>(std::lround(seconds));
  return s % 60 ? strprintf("%dm%02ds", s / 60, s % 60) : strprintf("%dm", s / 60);
}

}  // namespace

SvgChart::SvgChart(std::string title) : title_(std::move(title)), y_format_(default_format) {}

void SvgChart::set_x_range(double lo, double hi) {
  x_lo_ = lo;
  x_hi_ = hi > lo ? hi : lo + 1;
}

void SvgChart::set_y_range(double lo, double hi) {
  fixed_y_ = true;
  y_lo_ = lo;
  y_hi_ = hi > lo ? hi : lo + 1;
}

void SvgChart::add_line(ChartLine line) {
  lines_.push_back(std::move(line));
}
void SvgChart::add_stacked(std::vector<ChartLine> layers) {
  stacked_ = std::move(layers);
}
void SvgChart::add_window(double x0, double x1, std::string label) {
  windows_.push_back({x0, x1, std::move(label)});
}
void SvgChart::add_marker(double x, std::string label, std::string css_class) {
  markers_.push_back({x, std::move(label), std::move(css_class)});
}

double SvgChart::x_pixel(double x) const {
  double t = (x - x_lo_) / (x_hi_ - x_lo_);
  return kLeft + std::clamp(t, 0.0, 1.0) * (kPlotRight - kLeft);
}

double SvgChart::y_pixel(double y, double lo, double hi) const {
  double t;
  if (log_y_)
    t = (std::log10(std::max(y, lo)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  else
    t = (y - lo) / (hi - lo);
  return kPlotBottom - std::clamp(t, 0.0, 1.0) * (kPlotBottom - kTop);
}

std::vector<std::pair<double, double>> SvgChart::thin(
    const std::vector<std::pair<double, double>>& points) const {
  // Long runs have more seconds than the plot has pixels: keep, per pixel column, the lowest and
  // the highest point (in time order), so every spike still shows and the file stays small.
  if (points.size() <= static_cast<size_t>(kPlotRight - kLeft)) return points;
  std::vector<std::pair<double, double>> out;
  size_t i = 0;
  while (i < points.size()) {
    int column = static_cast<int>(x_pixel(points[i].first));
    size_t lo = i, hi = i, j = i;
    for (; j < points.size() && static_cast<int>(x_pixel(points[j].first)) == column; ++j) {
      if (points[j].second < points[lo].second) lo = j;
      if (points[j].second > points[hi].second) hi = j;
    }
    out.push_back(points[std::min(lo, hi)]);
    if (lo != hi) out.push_back(points[std::max(lo, hi)]);
    i = j;
  }
  return out;
}

std::pair<double, double> SvgChart::y_bounds() const {
  if (fixed_y_) return {y_lo_, y_hi_};
  double lo = INFINITY, hi = 0;
  for (const auto& l : lines_)
    for (const auto& [x, y] : l.points) {
      if (log_y_ && y <= 0) continue;
      lo = std::min(lo, y);
      hi = std::max(hi, y);
    }
  if (!log_y_) {
    if (hi <= 0) hi = 1;
    double step = nice_step(hi, 4);
    return {0, std::ceil(hi * 1.05 / step) * step};
  }
  if (!(lo < INFINITY)) return {1, 10};
  lo = std::pow(10.0, std::floor(std::log10(lo)));
  hi = std::pow(10.0, std::ceil(std::log10(hi * 1.01)));
  if (hi <= lo) hi = lo * 10;
  return {lo, hi};
}

std::string SvgChart::render() const {
  auto [lo, hi] = y_bounds();
  std::string out = strprintf(
      "<svg class=\"chart\" viewBox=\"0 0 %g %g\" xmlns=\"http://www.w3.org/2000/svg\" "
      "role=\"img\">"
      "<title>%s</title>\n",
      kWidth, kHeight, xml_escape(title_).c_str());
  out += strprintf("<rect class=\"plot\" x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\"/>\n", kLeft,
                   kTop, kPlotRight - kLeft, kPlotBottom - kTop);
  out += strprintf("<text class=\"ctitle\" x=\"%g\" y=\"18\">%s</text>\n", kLeft,
                   xml_escape(title_).c_str());

  // Legend, right-aligned on the title row (text width estimated at 6.6 px a character).
  std::vector<const ChartLine*> legend;
  for (const auto& l : stacked_) legend.push_back(&l);
  for (const auto& l : lines_)
    if (l.in_legend) legend.push_back(&l);
  double lx = kPlotRight;
  for (auto it = legend.rbegin(); it != legend.rend(); ++it) {
    lx -= 6.6 * static_cast<double>((*it)->name.size()) + 26;
    out += strprintf(
        "<rect x=\"%.1f\" y=\"10\" width=\"12\" height=\"10\" rx=\"2\" fill=\"%s\"/>"
        "<text class=\"legend\" x=\"%.1f\" y=\"19\">%s</text>\n",
        lx, (*it)->color.c_str(), lx + 16, xml_escape((*it)->name).c_str());
  }

  // Grid and y labels.
  if (log_y_) {
    double decades = std::log10(hi) - std::log10(lo);
    for (double d = lo; d <= hi * 1.0001; d *= 10) {
      for (double m : {1.0, 2.0, 5.0}) {
        double v = d * m;
        if (v > hi * 1.0001 || (m != 1.0 && decades > 2)) continue;
        double y = y_pixel(v, lo, hi);
        out += strprintf("<line class=\"grid\" x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\"/>",
                         kLeft, y, kPlotRight, y);
        out += strprintf("<text class=\"ylabel\" x=\"%g\" y=\"%.1f\">%s</text>\n", kLeft - 6, y + 4,
                         xml_escape(y_format_(v)).c_str());
      }
    }
  } else {
    double step = nice_step(hi - lo, 4);
    for (double v = lo; v <= hi + step * 1e-6; v += step) {
      double y = y_pixel(v, lo, hi);
      out += strprintf("<line class=\"grid\" x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\"/>", kLeft,
                       y, kPlotRight, y);
      out += strprintf("<text class=\"ylabel\" x=\"%g\" y=\"%.1f\">%s</text>\n", kLeft - 6, y + 4,
                       xml_escape(y_format_(v)).c_str());
    }
  }
  std::vector<std::pair<double, std::string>> x_ticks = x_ticks_;
  if (x_ticks.empty()) {  // a time axis
    double xstep = time_step(x_hi_ - x_lo_, 12);
    for (double x = std::ceil(x_lo_ / xstep) * xstep; x <= x_hi_ + 1e-9; x += xstep)
      x_ticks.emplace_back(x, x_label(x));
  }
  for (const auto& [x, label] : x_ticks) {
    double px = x_pixel(x);
    out += strprintf("<line class=\"tick\" x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\"/>", px,
                     kPlotBottom, px, kPlotBottom + 4);
    out += strprintf("<text class=\"xlabel\" x=\"%.1f\" y=\"%g\">%s</text>\n", px, kPlotBottom + 16,
                     xml_escape(label).c_str());
  }

  // Stacked shares.
  if (!stacked_.empty()) {
    std::vector<double> base(stacked_.front().points.size(), 0.0);
    for (const auto& layer : stacked_) {
      if (layer.points.size() != base.size() || base.empty()) continue;
      std::string top, bottom;
      std::vector<double> next = base;
      // A step layer holds each value until the next point (the last one for one unit): a
      // second's share covers that whole second instead of sloping into the next.
      const auto& pts = layer.points;
      auto edges = [&](size_t i) -> std::pair<double, double> {
        double end = i + 1 < pts.size() ? pts[i + 1].first : pts[i].first + 1;
        return {pts[i].first, layer.step ? end : pts[i].first};
      };
      for (size_t i = 0; i < pts.size(); ++i) {
        next[i] = base[i] + pts[i].second;
        auto [x0, x1] = edges(i);
        double y = y_pixel(next[i], lo, hi);
        top += strprintf("%s%.1f,%.1f", top.empty() ? "" : " ", x_pixel(x0), y);
        if (x1 != x0) top += strprintf(" %.1f,%.1f", x_pixel(x1), y);
      }
      for (size_t i = pts.size(); i-- > 0;) {
        auto [x0, x1] = edges(i);
        double y = y_pixel(base[i], lo, hi);
        if (x1 != x0) bottom += strprintf(" %.1f,%.1f", x_pixel(x1), y);
        bottom += strprintf(" %.1f,%.1f", x_pixel(x0), y);
      }
      out += strprintf(
          "<polygon class=\"area\" fill=\"%s\" points=\"%s%s\"><title>%s</title></polygon>\n",
          layer.color.c_str(), top.c_str(), bottom.c_str(), xml_escape(layer.name).c_str());
      base = std::move(next);
    }
  }

  // Fault windows over the shares (translucent) and under the lines.
  for (const auto& w : windows_) {
    double x0 = x_pixel(w.x0), x1 = std::max(x_pixel(w.x1), x0 + 2);
    out += strprintf(
        "<rect class=\"fault\" x=\"%.1f\" y=\"%g\" width=\"%.1f\" height=\"%g\" data-start=\"%g\" "
        "data-end=\"%g\"><title>%s</title></rect>\n",
        x0, kTop, x1 - x0, kPlotBottom - kTop, w.x0, w.x1, xml_escape(w.label).c_str());
  }

  // Lines; a gap of more than 1.5 s in the data (or three pixels' worth) breaks the line.
  const double seconds_per_pixel = (x_hi_ - x_lo_) / (kPlotRight - kLeft);
  const double gap = std::max(1.5, 3 * seconds_per_pixel);
  for (const auto& l : lines_) {
    std::string d;
    double prev_x = 0;
    bool open = false;
    for (const auto& [x, y] : thin(l.points)) {
      if (log_y_ && y <= 0) {
        open = false;
        continue;
      }
      double px = x_pixel(x), py = y_pixel(y, lo, hi);
      if (!open || x - prev_x > gap) {
        d += strprintf("M%.1f,%.1f", px, py);
      } else if (l.step) {
        d += strprintf("H%.1fV%.1f", px, py);
      } else {
        d += strprintf("L%.1f,%.1f", px, py);
      }
      prev_x = x;
      open = true;
    }
    if (l.step && open) d += strprintf("H%.1f", x_pixel(x_hi_));
    out += strprintf("<path class=\"line%s\" stroke=\"%s\" d=\"%s\"><title>%s</title></path>\n",
                     l.dashed ? " dashed" : "", l.color.c_str(), d.c_str(),
                     xml_escape(l.name).c_str());
  }

  for (const auto& m : markers_) {
    double px = x_pixel(m.x);
    out += strprintf(
        "<line class=\"%s\" x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\"><title>%s</title></line>",
        m.css_class.c_str(), px, kTop, px, kPlotBottom, xml_escape(m.label).c_str());
    out += strprintf("<text class=\"mlabel %s\" x=\"%.1f\" y=\"%g\">%s</text>\n",
                     m.css_class.c_str(), px + 3, kPlotBottom - 4, xml_escape(m.label).c_str());
  }
  // Labels last, so no area or line covers them.
  for (const auto& w : windows_)
    out += strprintf("<text class=\"flabel\" x=\"%.1f\" y=\"%g\">%s</text>\n", x_pixel(w.x0) + 3,
                     kTop + 11, xml_escape(w.label).c_str());
  out += strprintf("<line class=\"axis\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>", kLeft,
                   kPlotBottom, kPlotRight, kPlotBottom);
  out += "</svg>\n";
  return out;
}

}  // namespace gatedrill
