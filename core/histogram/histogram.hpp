#pragma once
// HDR-style log-linear histogram (after HdrHistogram): O(1) record, exact merge, and the
// HdrHistogram V2 compressed encoding so stored blobs can be read by existing HdrHistogram tools.
// Latency values are recorded in nanoseconds; the default range is 1 us .. 60 s at three
// significant digits (<= 0.1% relative error).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill {

class Histogram {
 public:
  // The default latency configuration: 1 us .. 60 s in nanoseconds, 3 significant digits.
  Histogram();
  // lowest_discernible >= 1, highest_trackable >= 2 * lowest_discernible, 1 <= digits <= 5.
  // Throws std::invalid_argument otherwise (a programming error, not input).
  Histogram(int64_t lowest_discernible, int64_t highest_trackable, int significant_digits);

  // Records value (count times). Values above the trackable range are not recorded: they are
  // counted in out_of_range() and false is returned. Values below lowest_discernible land in
  // the first bucket (exact below the resolution limit, like HdrHistogram).
  bool record(int64_t value, int64_t count = 1);

  // Adds every count of other. Works across configurations; values other holds that do not
  // fit this histogram's range are counted in out_of_range(). Exact when configs match.
  void merge(const Histogram& other);
  void reset();

  int64_t count() const { return total_count_; }
  int64_t out_of_range() const { return out_of_range_; }
  int64_t min() const;     // 0 when empty
  int64_t max() const;     // 0 when empty; highest equivalent value of the max's bucket
  double mean() const;     // 0 when empty
  double stddev() const;   // 0 when empty
  // The value at percentile p (0..100], HdrHistogram's definition (highest equivalent value
  // of the bucket holding the ceil(p/100 * count)-th value). 0 when empty.
  int64_t percentile(double p) const;

  int64_t lowest_discernible() const { return lowest_discernible_; }
  int64_t highest_trackable() const { return highest_trackable_; }
  int significant_digits() const { return significant_digits_; }

  // One recorded bucket: every value in [low, high] was recorded as this bucket, count times.
  struct Bucket {
    int64_t low;
    int64_t high;
    int64_t count;
  };
  // The non-empty buckets, in increasing value order (for charts and exports).
  std::vector<Bucket> buckets() const;

  // HdrHistogram V2 compressed encoding (cookie 0x1c849304 with the 0x10 word-size bits set, as
  // HdrHistogram Java and C write it: "HISTF..." in base64; zlib-deflated V2 payload with
  // ZigZag LEB128 counts and zero runs).
  std::string encode() const;
  // Accepts any V2 compressed blob (any range/precision); a clear error for anything else.
  static Result<Histogram> decode(std::string_view blob);

 private:
  int64_t lowest_discernible_ = 0;
  int64_t highest_trackable_ = 0;
  int significant_digits_ = 0;
  int unit_magnitude_ = 0;
  int sub_bucket_half_count_magnitude_ = 0;
  int32_t sub_bucket_count_ = 0;
  int32_t sub_bucket_half_count_ = 0;
  int64_t sub_bucket_mask_ = 0;
  int32_t bucket_count_ = 0;
  std::vector<int64_t> counts_;
  int64_t total_count_ = 0;
  int64_t out_of_range_ = 0;
  int64_t min_value_ = INT64_MAX;
  int64_t max_value_ = 0;

  int32_t counts_index_for(int64_t value) const;
  int64_t value_at_index(int32_t index) const;
  int64_t lowest_equivalent(int64_t value) const;
  int64_t highest_equivalent(int64_t value) const;
};

}  // namespace gatedrill
