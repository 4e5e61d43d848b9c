#include "core/histogram/histogram.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>

namespace gatedrill {

namespace {

// The bucket layout HdrHistogram derives from (lowest, highest, digits), computed apart from
// any allocation so decode() can validate a blob's header without throwing.
struct BucketConfig {
  int unit_magnitude = 0;
  int sub_bucket_half_count_magnitude = 0;
  int32_t sub_bucket_count = 0;
  int32_t sub_bucket_half_count = 0;
  int64_t sub_bucket_mask = 0;
  int32_t bucket_count = 0;
  int32_t counts_len = 0;
};

int floor_log2(uint64_t v) { return 63 - __builtin_clzll(v); }

std::optional<BucketConfig> bucket_config(int64_t lowest, int64_t highest, int digits) {
  if (lowest < 1 || digits < 1 || digits > 5 || highest / 2 < lowest) return std::nullopt;
  BucketConfig c;
  int64_t single_unit_limit = 2;
  for (int i = 0; i < digits; ++i) single_unit_limit *= 10;
  // ceil(log2(2 * 10^digits)): sub-buckets enough to resolve `digits` decimal digits.
  int sub_bucket_count_magnitude = floor_log2(static_cast<uint64_t>(single_unit_limit));
  if ((int64_t{1} << sub_bucket_count_magnitude) < single_unit_limit) ++sub_bucket_count_magnitude;
  c.sub_bucket_half_count_magnitude = std::max(sub_bucket_count_magnitude, 1) - 1;
  c.unit_magnitude = floor_log2(static_cast<uint64_t>(lowest));
  if (c.unit_magnitude + c.sub_bucket_half_count_magnitude > 61) return std::nullopt;
  c.sub_bucket_count = int32_t{1} << (c.sub_bucket_half_count_magnitude + 1);
  c.sub_bucket_half_count = c.sub_bucket_count / 2;
  c.sub_bucket_mask = (static_cast<int64_t>(c.sub_bucket_count) - 1) << c.unit_magnitude;

  // Buckets needed so the smallest untrackable value exceeds highest.
  int64_t smallest_untrackable = static_cast<int64_t>(c.sub_bucket_count) << c.unit_magnitude;
  int32_t buckets = 1;
  while (smallest_untrackable <= highest) {
    if (smallest_untrackable > std::numeric_limits<int64_t>::max() / 2) {
      ++buckets;
      break;
    }
    smallest_untrackable <<= 1;
    ++buckets;
  }
  c.bucket_count = buckets;
  c.counts_len = (buckets + 1) * c.sub_bucket_half_count;
  return c;
}

// --- HdrHistogram V2 encoding constants -----------------------------------------------------
// Base cookies; the 0xf0 nibble carries a word size. HdrHistogram (Java and C) writes 0x10 there
// for the ZigZag LEB128 payload and masks the nibble off when reading, so we do the same.
constexpr uint32_t kV2EncodingCookie = 0x1c849303;
constexpr uint32_t kV2CompressedCookie = 0x1c849304;
constexpr uint32_t kWordSizeNibble = 0x10;
constexpr uint32_t kCookieBaseMask = ~0xf0U;
constexpr size_t kCompressedHeaderSize = 8;  // cookie, compressed length
constexpr size_t kEncodedHeaderSize = 40;    // cookie, payload len, offset, digits, lo, hi, ratio
constexpr size_t kMaxLeb128Bytes = 9;

void put_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put_be64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
uint32_t get_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
uint64_t get_be64(const unsigned char* p) {
  return (uint64_t{get_be32(p)} << 32) | get_be32(p + 4);
}

void put_zigzag(std::string& out, int64_t signed_value) {
  uint64_t v = (static_cast<uint64_t>(signed_value) << 1) ^ static_cast<uint64_t>(signed_value >> 63);
  // LEB128 with at most 9 bytes: the 9th byte carries the last 8 bits whole.
  for (int i = 0; i < 8; ++i) {
    if ((v >> 7) == 0) {
      out.push_back(static_cast<char>(v));
      return;
    }
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v & 0xff));
}

// Reads one ZigZag LEB128 value from [p, end). False when the value runs past end.
bool get_zigzag(const unsigned char*& p, const unsigned char* end, int64_t& out) {
  uint64_t v = 0;
  for (int i = 0; i < 9; ++i) {
    if (p == end) return false;
    uint64_t byte = *p++;
    if (i == 8) {
      v |= byte << 56;
      break;
    }
    v |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) break;
  }
  out = static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  return true;
}

Error bad_histogram(const std::string& what) { return make_error("bad_histogram", what); }

}  // namespace

Histogram::Histogram() : Histogram(1000, 60'000'000'000, 3) {}

Histogram::Histogram(int64_t lowest_discernible, int64_t highest_trackable, int significant_digits) {
  auto config = bucket_config(lowest_discernible, highest_trackable, significant_digits);
  if (!config) {
    throw std::invalid_argument("Histogram: need lowest >= 1, highest >= 2 * lowest, 1 <= digits <= 5");
  }
  lowest_discernible_ = lowest_discernible;
  highest_trackable_ = highest_trackable;
  significant_digits_ = significant_digits;
  unit_magnitude_ = config->unit_magnitude;
  sub_bucket_half_count_magnitude_ = config->sub_bucket_half_count_magnitude;
  sub_bucket_count_ = config->sub_bucket_count;
  sub_bucket_half_count_ = config->sub_bucket_half_count;
  sub_bucket_mask_ = config->sub_bucket_mask;
  bucket_count_ = config->bucket_count;
  counts_.assign(static_cast<size_t>(config->counts_len), 0);
}

int32_t Histogram::counts_index_for(int64_t value) const {
  // The power-of-two bucket via count-leading-zeros, then the linear sub-bucket inside it.
  int pow2_ceiling = 64 - __builtin_clzll(static_cast<uint64_t>(value | sub_bucket_mask_));
  int32_t bucket_index = pow2_ceiling - unit_magnitude_ - (sub_bucket_half_count_magnitude_ + 1);
  auto sub_bucket_index = static_cast<int32_t>(value >> (bucket_index + unit_magnitude_));
  int32_t bucket_base = (bucket_index + 1) << sub_bucket_half_count_magnitude_;
  return bucket_base + (sub_bucket_index - sub_bucket_half_count_);
}

int64_t Histogram::value_at_index(int32_t index) const {
  int32_t bucket_index = (index >> sub_bucket_half_count_magnitude_) - 1;
  int32_t sub_bucket_index = (index & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
  if (bucket_index < 0) {
    sub_bucket_index -= sub_bucket_half_count_;
    bucket_index = 0;
  }
  return static_cast<int64_t>(sub_bucket_index) << (bucket_index + unit_magnitude_);
}

int64_t Histogram::lowest_equivalent(int64_t value) const {
  return value_at_index(counts_index_for(value));
}

int64_t Histogram::highest_equivalent(int64_t value) const {
  int pow2_ceiling = 64 - __builtin_clzll(static_cast<uint64_t>(value | sub_bucket_mask_));
  int32_t bucket_index = pow2_ceiling - unit_magnitude_ - (sub_bucket_half_count_magnitude_ + 1);
  auto sub_bucket_index = static_cast<int32_t>(value >> (bucket_index + unit_magnitude_));
  int32_t adjusted = sub_bucket_index >= sub_bucket_count_ ? bucket_index + 1 : bucket_index;
  uint64_t size = uint64_t{1} << (unit_magnitude_ + adjusted);
  uint64_t next = static_cast<uint64_t>(lowest_equivalent(value)) + size;
  // The last bucket of a range reaching INT64_MAX would overflow: clamp.
  if (next - 1 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(next - 1);
}

bool Histogram::record(int64_t value, int64_t count) {
  if (count < 0) return false;
  if (value < 0 || value > highest_trackable_) {
    out_of_range_ += count;
    return false;
  }
  int32_t index = counts_index_for(value);
  if (index < 0 || index >= static_cast<int32_t>(counts_.size())) {
    out_of_range_ += count;
    return false;
  }
  if (count == 0) return true;
  counts_[static_cast<size_t>(index)] += count;
  total_count_ += count;
  if (value < min_value_) min_value_ = value;
  if (value > max_value_) max_value_ = value;
  return true;
}

void Histogram::merge(const Histogram& other) {
  out_of_range_ += other.out_of_range_;
  if (other.total_count_ == 0) return;
  bool same_layout = unit_magnitude_ == other.unit_magnitude_ &&
                     sub_bucket_half_count_magnitude_ == other.sub_bucket_half_count_magnitude_ &&
                     counts_.size() == other.counts_.size() && highest_trackable_ == other.highest_trackable_;
  if (same_layout) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_count_ += other.total_count_;
    min_value_ = std::min(min_value_, other.min_value_);
    max_value_ = std::max(max_value_, other.max_value_);
    return;
  }
  // Different layouts: re-record each of other's buckets at its lowest equivalent value, as
  // HdrHistogram's add does. Values beyond our range are counted in out_of_range_.
  for (size_t i = 0; i < other.counts_.size(); ++i) {
    int64_t n = other.counts_[i];
    if (n != 0) record(other.value_at_index(static_cast<int32_t>(i)), n);
  }
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_count_ = 0;
  out_of_range_ = 0;
  min_value_ = INT64_MAX;
  max_value_ = 0;
}

int64_t Histogram::min() const { return total_count_ == 0 ? 0 : lowest_equivalent(min_value_); }

int64_t Histogram::max() const { return total_count_ == 0 ? 0 : highest_equivalent(max_value_); }

double Histogram::mean() const {
  if (total_count_ == 0) return 0;
  double total = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    int64_t low = value_at_index(static_cast<int32_t>(i));
    double median = static_cast<double>(low) + static_cast<double>(highest_equivalent(low) - low + 1) / 2;
    total += static_cast<double>(counts_[i]) * median;
  }
  return total / static_cast<double>(total_count_);
}

double Histogram::stddev() const {
  if (total_count_ == 0) return 0;
  double mu = mean();
  double sum = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    int64_t low = value_at_index(static_cast<int32_t>(i));
    double median = static_cast<double>(low) + static_cast<double>(highest_equivalent(low) - low + 1) / 2;
    double dev = median - mu;
    sum += dev * dev * static_cast<double>(counts_[i]);
  }
  return std::sqrt(sum / static_cast<double>(total_count_));
}

int64_t Histogram::percentile(double p) const {
  if (total_count_ == 0) return 0;
  double clamped = std::isnan(p) ? 0.0 : std::clamp(p, 0.0, 100.0);
  // ceil(p/100 * count), with a relative slack so 99.9% of 1000 is rank 999, not 1000, when
  // the product lands a rounding error above an integer.
  double exact_rank = clamped * static_cast<double>(total_count_) / 100.0;
  auto rank = static_cast<int64_t>(std::ceil(exact_rank - exact_rank * 1e-12));
  rank = std::clamp<int64_t>(rank, 1, total_count_);
  int64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      int64_t low = value_at_index(static_cast<int32_t>(i));
      return clamped == 0.0 ? low : highest_equivalent(low);
    }
  }
  return max();
}

std::vector<Histogram::Bucket> Histogram::buckets() const {
  std::vector<Bucket> out;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    int64_t low = value_at_index(static_cast<int32_t>(i));
    out.push_back(Bucket{low, highest_equivalent(low), counts_[i]});
  }
  return out;
}

std::string Histogram::encode() const {
  // Counts up to the max's index, like HdrHistogram: one literal per non-zero (or lone zero)
  // count, a negative number for a run of two or more zeros.
  size_t limit = static_cast<size_t>(counts_index_for(total_count_ == 0 ? 0 : max_value_)) + 1;
  limit = std::min(limit, counts_.size());
  std::string payload;
  for (size_t i = 0; i < limit;) {
    int64_t n = counts_[i++];
    if (n != 0) {
      put_zigzag(payload, n);
      continue;
    }
    int64_t zeros = 1;
    while (i < limit && counts_[i] == 0) ++zeros, ++i;
    put_zigzag(payload, zeros > 1 ? -zeros : 0);
  }

  std::string encoded;
  encoded.reserve(kEncodedHeaderSize + payload.size());
  put_be32(encoded, kV2EncodingCookie | kWordSizeNibble);
  put_be32(encoded, static_cast<uint32_t>(payload.size()));
  put_be32(encoded, 0);  // normalizing index offset
  put_be32(encoded, static_cast<uint32_t>(significant_digits_));
  put_be64(encoded, static_cast<uint64_t>(lowest_discernible_));
  put_be64(encoded, static_cast<uint64_t>(highest_trackable_));
  double ratio = 1.0;
  uint64_t ratio_bits = 0;
  std::memcpy(&ratio_bits, &ratio, sizeof ratio_bits);
  put_be64(encoded, ratio_bits);
  encoded += payload;

  uLongf deflated_len = compressBound(static_cast<uLong>(encoded.size()));
  std::string out(kCompressedHeaderSize + deflated_len, '\0');
  int rc = compress(reinterpret_cast<Bytef*>(out.data() + kCompressedHeaderSize), &deflated_len,
                    reinterpret_cast<const Bytef*>(encoded.data()), static_cast<uLong>(encoded.size()));
  if (rc != Z_OK) throw std::runtime_error("Histogram::encode: zlib compress failed");  // out of memory
  out.resize(kCompressedHeaderSize + deflated_len);
  std::string header;
  put_be32(header, kV2CompressedCookie | kWordSizeNibble);
  put_be32(header, static_cast<uint32_t>(deflated_len));
  out.replace(0, kCompressedHeaderSize, header);
  return out;
}

namespace {

// Inflates a zlib stream in two steps, so the payload size can be checked against the
// histogram's header before anything large is allocated.
class Inflater {
 public:
  Inflater(const unsigned char* data, size_t size) {
    ok_ = inflateInit(&stream_) == Z_OK;
    stream_.next_in = const_cast<unsigned char*>(data);
    stream_.avail_in = static_cast<uInt>(size);
  }
  ~Inflater() {
    if (ok_) inflateEnd(&stream_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  bool ok() const { return ok_; }
  bool ended() const { return ended_; }

  // Fills out with up to n bytes; returns how many were produced, or -1 on a zlib error.
  long read(unsigned char* out, size_t n) {
    stream_.next_out = out;
    stream_.avail_out = static_cast<uInt>(n);
    while (stream_.avail_out > 0 && !ended_) {
      int rc = inflate(&stream_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        ended_ = true;
      } else if (rc == Z_BUF_ERROR) {
        break;  // input exhausted before the stream ended
      } else if (rc != Z_OK) {
        return -1;
      }
    }
    return static_cast<long>(n - stream_.avail_out);
  }

 private:
  z_stream stream_{};
  bool ok_ = false;
  bool ended_ = false;
};

}  // namespace

Result<Histogram> Histogram::decode(std::string_view blob) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(blob.data());
  if (blob.size() < kCompressedHeaderSize)
    return bad_histogram("truncated: " + std::to_string(blob.size()) + " bytes, the header alone is 8");
  uint32_t cookie = get_be32(bytes);
  if ((cookie & kCookieBaseMask) != kV2CompressedCookie) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", cookie);
    return bad_histogram(std::string("bad cookie ") + hex + ": not an HdrHistogram V2 compressed histogram");
  }
  auto compressed_len = static_cast<int32_t>(get_be32(bytes + 4));
  if (compressed_len < 0 || static_cast<size_t>(compressed_len) > blob.size() - kCompressedHeaderSize)
    return bad_histogram("truncated: the header announces " + std::to_string(compressed_len) +
                         " compressed bytes, " + std::to_string(blob.size() - kCompressedHeaderSize) +
                         " follow");

  Inflater inflater(bytes + kCompressedHeaderSize, static_cast<size_t>(compressed_len));
  if (!inflater.ok()) return bad_histogram("inflate failure: zlib could not start");
  unsigned char header[kEncodedHeaderSize];
  long got = inflater.read(header, sizeof header);
  if (got < 0) return bad_histogram("inflate failure: the compressed data is corrupt");
  if (static_cast<size_t>(got) < sizeof header)
    return bad_histogram("truncated: the inflated header has " + std::to_string(got) + " of 40 bytes");
  if ((get_be32(header) & kCookieBaseMask) != kV2EncodingCookie)
    return bad_histogram("bad cookie: the inflated payload is not a V2 encoding");
  auto payload_len = static_cast<int32_t>(get_be32(header + 4));
  auto digits = static_cast<int32_t>(get_be32(header + 12));
  auto lowest = static_cast<int64_t>(get_be64(header + 16));
  auto highest = static_cast<int64_t>(get_be64(header + 24));
  // The normalizing index offset (header + 8) only describes how Java lays out a shifted
  // histogram in memory; the encoded counts are in logical order. The conversion ratio is
  // display metadata. Neither changes the values we read.
  auto config = bucket_config(lowest, highest, digits);
  if (!config)
    return bad_histogram("bad range: lowest " + std::to_string(lowest) + ", highest " + std::to_string(highest) +
                         ", digits " + std::to_string(digits));
  if (payload_len < 0 || static_cast<size_t>(payload_len) > kMaxLeb128Bytes * static_cast<size_t>(config->counts_len))
    return bad_histogram("bad payload length " + std::to_string(payload_len));

  // One spare byte detects a payload longer than announced.
  std::vector<unsigned char> payload(static_cast<size_t>(payload_len) + 1);
  got = inflater.read(payload.data(), payload.size());
  if (got < 0) return bad_histogram("inflate failure: the compressed data is corrupt");
  // A complete stream with fewer payload bytes than announced is accepted: older HdrHistogram_c
  // releases counted the 40 header bytes in the payload length, and its reader (like ours) treats
  // the missing tail as empty buckets. Real truncation breaks the zlib stream and is caught below.
  if (got > payload_len) return bad_histogram("the payload is longer than the announced " + std::to_string(payload_len));
  if (!inflater.ended()) {
    // The stream must end right here; read() stops early only when input ran out.
    unsigned char spare = 0;
    long extra = inflater.read(&spare, 1);
    if (extra < 0) return bad_histogram("inflate failure: the compressed data is corrupt");
    if (extra > 0) return bad_histogram("the payload is longer than the announced " + std::to_string(payload_len));
    if (!inflater.ended()) return bad_histogram("truncated: the compressed stream does not end");
  }

  Histogram h(lowest, highest, digits);
  const unsigned char* p = payload.data();
  const unsigned char* end = p + std::min<long>(got, payload_len);
  size_t index = 0;
  int64_t total = 0;
  while (p < end) {
    int64_t v = 0;
    if (!get_zigzag(p, end, v)) return bad_histogram("truncated: a count runs past the payload");
    if (v < 0) {
      if (v == INT64_MIN || static_cast<uint64_t>(-v) > h.counts_.size() - index)
        return bad_histogram("counts past the array: a run of " + std::to_string(0 - static_cast<uint64_t>(v)) +
                             " zeros at index " + std::to_string(index) + " of " + std::to_string(h.counts_.size()));
      index += static_cast<size_t>(-v);
      continue;
    }
    if (index >= h.counts_.size())
      return bad_histogram("counts past the array: " + std::to_string(h.counts_.size()) + " buckets");
    if (__builtin_add_overflow(total, v, &total)) return bad_histogram("the total count overflows");
    h.counts_[index++] = v;
  }

  // Rebuild what the blob does not carry: the total, min and max from the counts.
  h.total_count_ = total;
  for (size_t i = 0; i < h.counts_.size(); ++i) {
    if (h.counts_[i] == 0) continue;
    int64_t low = h.value_at_index(static_cast<int32_t>(i));
    if (h.min_value_ == INT64_MAX) h.min_value_ = low;
    h.max_value_ = h.highest_equivalent(low);
  }
  return h;
}

}  // namespace gatedrill
