#include "core/image/colour_cues.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/image/resize.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

const char* const kFeatures[] = {"brightness",    "saturation",      "dark_share",
                                 "bright_share",  "warm_share",      "cold_share",
                                 "sky_share",     "water_share",     "vegetation_share",
                                 "colourfulness", "background_share"};

// Marks (255) the plain background of `rgb`: the pixels connected to the
// border whose colour is within kTolerance (per channel) of the border's
// dominant colour, when at least 60 % of the border has that colour (a
// product shot, an icon or an emoji on white). Photos, whose borders vary,
// get an empty mask. Returns the marked share of the image.
double PlainBackground(const cv::Mat& rgb, cv::Mat* background) {
  constexpr int kTolerance = 12;
  *background = cv::Mat::zeros(rgb.rows, rgb.cols, CV_8U);
  std::vector<cv::Point> border;
  for (int x = 0; x < rgb.cols; ++x) {
    border.emplace_back(x, 0);
    border.emplace_back(x, rgb.rows - 1);
  }
  for (int y = 1; y + 1 < rgb.rows; ++y) {
    border.emplace_back(0, y);
    border.emplace_back(rgb.cols - 1, y);
  }
  // Dominant border colour, quantised to 16 levels per channel.
  std::map<int, int> bins;
  auto bin_of = [&](const cv::Point& p) {
    const cv::Vec3b c = rgb.at<cv::Vec3b>(p);
    return (c[0] >> 4) << 8 | (c[1] >> 4) << 4 | (c[2] >> 4);
  };
  for (const cv::Point& p : border) ++bins[bin_of(p)];
  auto best = std::max_element(bins.begin(), bins.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  if (best == bins.end() || best->second < 0.6 * border.size()) return 0;
  cv::Mat mask = cv::Mat::zeros(rgb.rows + 2, rgb.cols + 2, CV_8U);
  const cv::Scalar tol(kTolerance, kTolerance, kTolerance);
  cv::Mat image = rgb.clone();  // floodFill needs a writable image
  for (const cv::Point& p : border) {
    if (bin_of(p) != best->first) continue;
    if (mask.at<uint8_t>(p.y + 1, p.x + 1)) continue;
    cv::floodFill(image, mask, p, cv::Scalar(), nullptr, tol, tol,
                  4 | cv::FLOODFILL_MASK_ONLY | (255 << 8));
  }
  *background = mask(cv::Rect(1, 1, rgb.cols, rgb.rows)).clone();
  return cv::countNonZero(*background) / double(rgb.rows * rgb.cols);
}

// A copy of `image` at most kColourThumbnailSide pixels on its longer side (a view when it is
// already that small).
cv::Mat Thumbnail(const RgbImage& image) {
  cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.pixels.data()));
  const double scale = double(kColourThumbnailSide) / std::max(image.width, image.height);
  if (scale >= 1) return rgb;
  // An explicit size of at least 1x1: with a scale factor, OpenCV rounds the
  // short side of a 1x300 or 10000x10 image to 0 and throws.
  const cv::Size size(std::max(1, int(image.width * scale + 0.5)),
                      std::max(1, int(image.height * scale + 0.5)));
  return ResizeTo(rgb, size);
}

}  // namespace

std::map<std::string, float> ColourFeatures(const RgbImage& image) {
  std::map<std::string, float> f;
  for (const char* name : kFeatures) f[name] = 0;
  if (image.width <= 0 || image.height <= 0) return f;
  const cv::Mat small = Thumbnail(image);
  cv::Mat hsv;
  cv::cvtColor(small, hsv, cv::COLOR_RGB2HSV);  // H 0..179, S, V 0..255
  const int rows = hsv.rows, cols = hsv.cols;
  // Features describe the subject, not a plain backdrop; when nearly all of
  // the image is plain (a solid colour), the backdrop is the subject.
  cv::Mat background;
  const double background_share = PlainBackground(small, &background);
  const bool skip_background = background_share > 0 && background_share < 0.95;
  // An all-plain image (a solid colour, a clear night sky) has no subject to
  // set apart: no backdrop.
  f["background_share"] = skip_background ? float(background_share) : 0.0f;
  double n = 0, sky_n = 0, water_n = 0;
  double sum_v = 0, sum_s = 0;
  double dark = 0, bright = 0, warm = 0, cold = 0, veg = 0;
  double sky = 0, water = 0;
  // Hasler & Suesstrunk colourfulness on rg = R - G, yb = (R + G) / 2 - B.
  double rg_sum = 0, rg_sq = 0, yb_sum = 0, yb_sq = 0;
  for (int y = 0; y < rows; ++y) {
    const uint8_t* p = hsv.ptr<uint8_t>(y);
    const uint8_t* c = small.ptr<uint8_t>(y);
    const uint8_t* bg = background.ptr<uint8_t>(y);
    for (int x = 0; x < cols; ++x) {
      if (skip_background && bg[x]) continue;
      ++n;
      const int h = p[3 * x], s = p[3 * x + 1], v = p[3 * x + 2];
      sum_v += v;
      sum_s += s;
      dark += v < 51;
      bright += v > 217;
      const bool saturated = s > 64 && v > 64;
      const bool is_warm = saturated && (h < 25 || h >= 165);
      const bool is_blue = s > 50 && v > 60 && h >= 90 && h < 130;
      warm += is_warm;
      cold += saturated && h >= 85 && h < 135;
      veg += s > 50 && v > 40 && h >= 35 && h < 85;
      if (y < rows / 3) {
        sky += is_blue || (s < 30 && v > 200);
        ++sky_n;
      }
      if (y >= rows / 2) {
        water += is_blue;
        ++water_n;
      }
      const double r = c[3 * x], g = c[3 * x + 1], b = c[3 * x + 2];
      const double rg = r - g, yb = 0.5 * (r + g) - b;
      rg_sum += rg;
      rg_sq += rg * rg;
      yb_sum += yb;
      yb_sq += yb * yb;
    }
  }
  f["brightness"] = float(sum_v / n / 255);
  f["saturation"] = float(sum_s / n / 255);
  f["dark_share"] = float(dark / n);
  f["bright_share"] = float(bright / n);
  f["warm_share"] = float(warm / n);
  f["cold_share"] = float(cold / n);
  f["vegetation_share"] = float(veg / n);
  f["sky_share"] = sky_n > 0 ? float(sky / sky_n) : 0;
  f["water_share"] = water_n > 0 ? float(water / water_n) : 0;
  const double rg_mean = rg_sum / n, yb_mean = yb_sum / n;
  const double rg_std = std::sqrt(std::max(0.0, rg_sq / n - rg_mean * rg_mean));
  const double yb_std = std::sqrt(std::max(0.0, yb_sq / n - yb_mean * yb_mean));
  const double colourfulness = std::sqrt(rg_std * rg_std + yb_std * yb_std) +
                               0.3 * std::sqrt(rg_mean * rg_mean + yb_mean * yb_mean);
  f["colourfulness"] = float(std::min(1.0, colourfulness / 150.0));
  return f;
}

absl::StatusOr<std::vector<CueRule>> LoadCueRules(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, int64_t{1} << 20));
  std::vector<CueRule> rules;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    for (const auto& r : j.at("rules")) {
      CueRule rule;
      rule.tag = r.at("tag").get<std::string>();
      rule.words = r.value("words", std::vector<std::string>{});
      for (const auto& [key, value] : r.at("when").items()) {
        bool is_min = absl::EndsWith(key, "_min");
        if (!is_min && !absl::EndsWith(key, "_max")) {
          throw std::runtime_error(absl::StrCat("rule '", rule.tag, "': condition '", key,
                                                "' must end in _min or _max"));
        }
        std::string feature = key.substr(0, key.size() - 4);
        if (std::find(std::begin(kFeatures), std::end(kFeatures), feature) == std::end(kFeatures)) {
          throw std::runtime_error(
              absl::StrCat("rule '", rule.tag, "': unknown feature '", feature, "'"));
        }
        rule.conditions.push_back({feature, {is_min, value.get<float>()}});
      }
      if (rule.conditions.empty()) {
        throw std::runtime_error(absl::StrCat("rule '", rule.tag, "' has no conditions"));
      }
      rules.push_back(std::move(rule));
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("colour cue rules ", path, ": ", e.what()));
  }
  return rules;
}

std::vector<CueMatch> MatchCueRules(const std::vector<CueRule>& rules,
                                    const std::map<std::string, float>& features) {
  std::vector<CueMatch> out;
  for (const CueRule& rule : rules) {
    float margin = 1;
    bool ok = true;
    for (const auto& [feature, cond] : rule.conditions) {
      const float x = features.at(feature);
      const float t = cond.second;
      float m;
      if (cond.first) {  // x >= t
        m = t < 1 ? (x - t) / (1 - t) : (x >= t ? 1 : -1);
      } else {  // x <= t
        m = t > 0 ? (t - x) / t : (x <= t ? 1 : -1);
      }
      if (m < 0) {
        ok = false;
        break;
      }
      margin = std::min(margin, m);
    }
    if (ok) out.push_back({&rule, 0.5f + 0.5f * std::min(1.0f, margin)});
  }
  return out;
}

}  // namespace image2song
