#include "core/histogram/histogram.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace gatedrill {
namespace {

constexpr int64_t kUs = 1000;
constexpr int64_t kMs = 1000 * kUs;
constexpr int64_t kS = 1000 * kMs;

// The exact p-th percentile of sorted data, by the same rank rule: the ceil(p/100 * n)-th value.
int64_t exact_percentile(const std::vector<int64_t>& sorted, double p) {
  auto n = static_cast<int64_t>(sorted.size());
  // p * n / 100 computed on integers (p given in hundredths) so the rank has no rounding error.
  auto p_hundredths = static_cast<int64_t>(std::llround(p * 100));
  int64_t rank = (p_hundredths * n + 9999) / 10000;
  rank = std::clamp<int64_t>(rank, 1, n);
  return sorted[static_cast<size_t>(rank - 1)];
}

// How far a reported value may sit above the exact one: the width of its bucket, which is at
// most value / 2^(sub-bucket bits) above the resolution floor, and the unit below it.
int64_t allowed_error(const Histogram& h, int64_t exact) {
  return std::max<int64_t>(exact / 1000, h.lowest_discernible());
}

std::vector<int64_t> draw(const std::string& distribution, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> out;
  out.reserve(n);
  std::uniform_int_distribution<int64_t> uniform(kUs, 100 * kMs);
  std::lognormal_distribution<double> lognormal(std::log(2.0 * kMs), 1.0);
  std::exponential_distribution<double> exponential(1.0 / (5.0 * kMs));
  std::bernoulli_distribution slow(0.01);
  std::normal_distribution<double> fast_mode(800.0 * kUs, 50.0 * kUs), slow_mode(2.0 * kS, 0.3 * kS);
  for (size_t i = 0; i < n; ++i) {
    double v = 0;
    if (distribution == "uniform") v = static_cast<double>(uniform(rng));
    else if (distribution == "lognormal") v = lognormal(rng);
    else if (distribution == "exponential") v = exponential(rng);
    else v = slow(rng) ? slow_mode(rng) : fast_mode(rng);  // bimodal: a fast path and rare stalls
    out.push_back(std::clamp<int64_t>(static_cast<int64_t>(v), 0, 59 * kS));
  }
  return out;
}

class HistogramDistributions : public ::testing::TestWithParam<std::string> {};

TEST_P(HistogramDistributions, PercentilesMatchSortedDataWithinTheResolution) {
  auto values = draw(GetParam(), 50'000, 42);
  Histogram h;
  for (int64_t v : values) ASSERT_TRUE(h.record(v));
  std::sort(values.begin(), values.end());
  ASSERT_EQ(h.count(), static_cast<int64_t>(values.size()));

  for (double p : {0.01, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    int64_t exact = exact_percentile(values, p);
    int64_t reported = h.percentile(p);
    // HdrHistogram reports the highest value equivalent to the exact one: never below it.
    EXPECT_GE(reported, exact) << GetParam() << " p" << p;
    EXPECT_LE(reported - exact, allowed_error(h, exact)) << GetParam() << " p" << p;
  }
}

TEST_P(HistogramDistributions, MinMaxMeanAndStddevMatchTheData) {
  auto values = draw(GetParam(), 20'000, 7);
  Histogram h;
  double sum = 0;
  for (int64_t v : values) {
    h.record(v);
    sum += static_cast<double>(v);
  }
  auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  EXPECT_LE(h.min(), *lo);
  EXPECT_LE(*lo - h.min(), allowed_error(h, *lo));
  EXPECT_GE(h.max(), *hi);
  EXPECT_LE(h.max() - *hi, allowed_error(h, *hi));

  double mean = sum / static_cast<double>(values.size());
  EXPECT_NEAR(h.mean(), mean, mean / 1000 + static_cast<double>(h.lowest_discernible()));
  double squares = 0;
  for (int64_t v : values) squares += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
  double stddev = std::sqrt(squares / static_cast<double>(values.size()));
  EXPECT_NEAR(h.stddev(), stddev, stddev / 100 + static_cast<double>(h.lowest_discernible()));
}

INSTANTIATE_TEST_SUITE_P(Seeded, HistogramDistributions,
                         ::testing::Values("uniform", "lognormal", "exponential", "bimodal"));

TEST(Histogram, FineConfigurationKeepsThreeDigitsForSmallValues) {
  Histogram h(1, 10 * kS, 3);
  std::vector<int64_t> values;
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int64_t> d(1, 5000);
  for (int i = 0; i < 10'000; ++i) values.push_back(d(rng));
  for (int64_t v : values) h.record(v);
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 50.0, 99.0, 100.0}) {
    int64_t exact = exact_percentile(values, p);
    EXPECT_GE(h.percentile(p), exact);
    EXPECT_LE(h.percentile(p) - exact, std::max<int64_t>(exact / 1000, 1)) << p;
  }
  // Below 2048 every integer has its own bucket.
  Histogram exact_small(1, 10 * kS, 3);
  exact_small.record(1234);
  EXPECT_EQ(exact_small.min(), 1234);
  EXPECT_EQ(exact_small.max(), 1234);
}

TEST(Histogram, PercentileClampsItsArgument) {
  Histogram h;
  h.record(2 * kMs);
  h.record(9 * kMs);
  EXPECT_EQ(h.percentile(250), h.max());
  EXPECT_EQ(h.percentile(-5), h.min());
  EXPECT_EQ(h.percentile(std::nan("")), h.min());
  EXPECT_EQ(h.percentile(0), h.min());
  EXPECT_EQ(h.percentile(50), h.percentile(1));
  EXPECT_GE(h.percentile(50), 2 * kMs);
  EXPECT_LT(h.percentile(50), 2 * kMs + 2 * kUs);
}

TEST(Histogram, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0);
  EXPECT_EQ(h.stddev(), 0);
  EXPECT_EQ(h.percentile(99), 0);
  EXPECT_TRUE(h.buckets().empty());
}

TEST(Histogram, DefaultConfigurationIsMicrosecondsToAMinuteAtThreeDigits) {
  Histogram h;
  EXPECT_EQ(h.lowest_discernible(), 1000);
  EXPECT_EQ(h.highest_trackable(), 60'000'000'000);
  EXPECT_EQ(h.significant_digits(), 3);
  EXPECT_TRUE(h.record(60 * kS));
  EXPECT_GE(h.max(), 60 * kS);
}

TEST(Histogram, InvalidConfigurationThrows) {
  EXPECT_THROW(Histogram(0, 100, 3), std::invalid_argument);
  EXPECT_THROW(Histogram(100, 150, 3), std::invalid_argument);
  EXPECT_THROW(Histogram(1, 1000, 0), std::invalid_argument);
  EXPECT_THROW(Histogram(1, 1000, 6), std::invalid_argument);
}

TEST(Histogram, OutOfRangeValuesAreCountedNotRecorded) {
  Histogram h;
  EXPECT_TRUE(h.record(5 * kMs));
  EXPECT_FALSE(h.record(61 * kS));
  EXPECT_FALSE(h.record(-1));
  EXPECT_FALSE(h.record(120 * kS, 4));
  EXPECT_EQ(h.count(), 1);
  EXPECT_EQ(h.out_of_range(), 6);
  EXPECT_LT(h.max(), 6 * kMs);
  h.reset();
  EXPECT_EQ(h.count(), 0);
  EXPECT_EQ(h.out_of_range(), 0);
}

TEST(Histogram, RecordWithCountEqualsRepeatedRecords) {
  Histogram a, b;
  a.record(3 * kMs, 250);
  for (int i = 0; i < 250; ++i) b.record(3 * kMs);
  EXPECT_EQ(a.count(), 250);
  EXPECT_EQ(a.percentile(50), b.percentile(50));
  ASSERT_EQ(a.buckets().size(), 1u);
  EXPECT_EQ(a.buckets()[0].count, 250);
  EXPECT_LE(a.buckets()[0].low, 3 * kMs);
  EXPECT_GE(a.buckets()[0].high, 3 * kMs);
}

void expect_same(const Histogram& a, const Histogram& b) {
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  EXPECT_DOUBLE_EQ(a.mean(), b.mean());
  auto ba = a.buckets(), bb = b.buckets();
  ASSERT_EQ(ba.size(), bb.size());
  for (size_t i = 0; i < ba.size(); ++i) {
    EXPECT_EQ(ba[i].low, bb[i].low);
    EXPECT_EQ(ba[i].high, bb[i].high);
    EXPECT_EQ(ba[i].count, bb[i].count);
  }
  for (double p : {50.0, 90.0, 99.0, 99.9, 100.0}) EXPECT_EQ(a.percentile(p), b.percentile(p)) << p;
}

TEST(Histogram, MergeEqualsRecordingEverythingIntoOne) {
  auto values = draw("lognormal", 30'000, 11);
  Histogram all, left, right;
  for (size_t i = 0; i < values.size(); ++i) {
    all.record(values[i]);
    (i % 3 == 0 ? left : right).record(values[i]);
  }
  all.record(90 * kS);
  right.record(90 * kS);  // out of range on both sides
  left.merge(right);
  expect_same(left, all);
  EXPECT_EQ(left.out_of_range(), all.out_of_range());
}

TEST(Histogram, MergeAcrossConfigurationsKeepsValuesWithinBothResolutions) {
  auto values = draw("exponential", 20'000, 5);
  Histogram coarse(1, 100 * kS, 2);  // another worker with another precision and range
  for (int64_t v : values) coarse.record(v);
  coarse.record(80 * kS, 3);  // beyond the default 60 s
  Histogram merged;
  merged.merge(coarse);
  EXPECT_EQ(merged.count(), static_cast<int64_t>(values.size()));
  EXPECT_EQ(merged.out_of_range(), 3);
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    int64_t exact = exact_percentile(values, p);
    // Two quantizations: to the coarse bucket's low end (<= 1% below), then our bucket's top.
    EXPECT_NEAR(static_cast<double>(merged.percentile(p)), static_cast<double>(exact),
                static_cast<double>(exact) / 100 + static_cast<double>(allowed_error(merged, exact)))
        << p;
  }
}

TEST(Histogram, EncodeDecodeRoundTripIsExact) {
  for (auto config : {std::vector<int64_t>{1000, 60 * kS, 3}, std::vector<int64_t>{1, 1'000'000, 5},
                      std::vector<int64_t>{1, 3600 * kS, 2}}) {
    Histogram h(config[0], config[1], static_cast<int>(config[2]));
    for (int64_t v : draw("bimodal", 5'000, 9)) h.record(std::min(v, config[1]));
    h.record(0, 2);
    std::string blob = h.encode();
    auto decoded = Histogram::decode(blob);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(decoded->lowest_discernible(), h.lowest_discernible());
    EXPECT_EQ(decoded->highest_trackable(), h.highest_trackable());
    EXPECT_EQ(decoded->significant_digits(), h.significant_digits());
    expect_same(*decoded, h);
    EXPECT_EQ(decoded->encode(), blob);  // stable: re-encoding gives the same bytes
  }
  Histogram empty;
  auto decoded = Histogram::decode(empty.encode());
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->count(), 0);
}

// --- format checks, with our own minimal reader/writer of the spec -----------------------------

uint32_t be32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
uint64_t be64(const std::string& s, size_t at) { return (uint64_t{be32(s, at)} << 32) | be32(s, at + 4); }
void put32(std::string& s, uint32_t v) {
  for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>(v >> sh));
}
void put64(std::string& s, uint64_t v) {
  put32(s, static_cast<uint32_t>(v >> 32));
  put32(s, static_cast<uint32_t>(v));
}

std::string zlib_inflate(const std::string& data) {
  std::string out(1 << 20, '\0');
  uLongf len = out.size();
  int rc = uncompress(reinterpret_cast<Bytef*>(out.data()), &len, reinterpret_cast<const Bytef*>(data.data()),
                      data.size());
  EXPECT_EQ(rc, Z_OK);
  out.resize(len);
  return out;
}

std::string zlib_deflate(const std::string& data) {
  uLongf len = compressBound(data.size());
  std::string out(len, '\0');
  EXPECT_EQ(compress(reinterpret_cast<Bytef*>(out.data()), &len, reinterpret_cast<const Bytef*>(data.data()),
                     data.size()),
            Z_OK);
  out.resize(len);
  return out;
}

// A V2 encoding: header fields per the spec, then the payload bytes as given.
std::string v2_encoding(uint32_t cookie, const std::string& payload, int32_t digits, int64_t lowest,
                        int64_t highest) {
  std::string e;
  put32(e, cookie);
  put32(e, static_cast<uint32_t>(payload.size()));
  put32(e, 0);
  put32(e, static_cast<uint32_t>(digits));
  put64(e, static_cast<uint64_t>(lowest));
  put64(e, static_cast<uint64_t>(highest));
  put64(e, 0x3ff0000000000000ULL);  // 1.0
  return e + payload;
}

std::string v2_compressed(uint32_t cookie, const std::string& encoding) {
  std::string deflated = zlib_deflate(encoding);
  std::string blob;
  put32(blob, cookie);
  put32(blob, static_cast<uint32_t>(deflated.size()));
  return blob + deflated;
}

TEST(HistogramFormat, HandWrittenV2BlobDecodes) {
  // lowest 1, highest 10000, 2 digits: 256 sub-buckets of width 1, so index == value below 256.
  // Counts: 3 at value 5, 7 at value 100, 300 at value 200. ZigZag LEB128, written out by hand:
  //   -5 (five zeros) -> 0x09 | 3 -> 0x06 | -94 zeros -> 187 -> 0xbb 0x01 | 7 -> 0x0e |
  //   -99 zeros -> 197 -> 0xc5 0x01 | 300 -> 600 -> 0xd8 0x04
  const std::string payload("\x09\x06\xbb\x01\x0e\xc5\x01\xd8\x04", 9);
  // Both cookie spellings: the bare base and with the word-size nibble Java and C write.
  for (auto [inner, outer] : {std::pair<uint32_t, uint32_t>{0x1c849303, 0x1c849304},
                              std::pair<uint32_t, uint32_t>{0x1c849313, 0x1c849314}}) {
    std::string blob = v2_compressed(outer, v2_encoding(inner, payload, 2, 1, 10000));
    auto h = Histogram::decode(blob);
    ASSERT_TRUE(h) << h.error().message;
    EXPECT_EQ(h->significant_digits(), 2);
    EXPECT_EQ(h->lowest_discernible(), 1);
    EXPECT_EQ(h->highest_trackable(), 10000);
    EXPECT_EQ(h->count(), 310);
    EXPECT_EQ(h->min(), 5);
    EXPECT_EQ(h->max(), 200);
    EXPECT_EQ(h->percentile(0.5), 5);    // rank 2 of 310
    EXPECT_EQ(h->percentile(3.0), 100);  // rank 10
    EXPECT_EQ(h->percentile(50), 200);
    auto buckets = h->buckets();
    ASSERT_EQ(buckets.size(), 3u);
    EXPECT_EQ(buckets[0].low, 5);
    EXPECT_EQ(buckets[0].count, 3);
    EXPECT_EQ(buckets[1].low, 100);
    EXPECT_EQ(buckets[1].count, 7);
    EXPECT_EQ(buckets[2].low, 200);
    EXPECT_EQ(buckets[2].count, 300);
  }
}

std::string from_hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

// Blobs written by HdrHistogram itself (the "HISTF..." base64 lines of its logs, as hex).
TEST(HistogramFormat, DecodesBlobsWrittenByHdrHistogram) {
  // Java and C, Histogram(1, 2048, 3) after recordValue(2048).
  auto boundary = Histogram::decode(from_hex(
      "1c84931400000020789c9369992cccc0c0c0cc0001309a11427130d87f80b0fecb330100459803a5"));
  ASSERT_TRUE(boundary) << boundary.error().message;
  EXPECT_EQ(boundary->highest_trackable(), 2048);
  EXPECT_EQ(boundary->count(), 1);
  EXPECT_EQ(boundary->min(), 2048);
  EXPECT_EQ(boundary->max(), 2049);  // 2048 sits in a bucket of width 2

  // HdrHistogram_c's standard test histogram: (1, 3600000000, 3), 1000 recorded 10000 times
  // and 100000000 once.
  const std::string standard = from_hex(
      "1c84931400000029789c9369992cccc0c060c80001cc509a11445c9bbc84c1fe0344e03cff82398cd33b989800956907f6");
  auto h = Histogram::decode(standard);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->lowest_discernible(), 1);
  EXPECT_EQ(h->highest_trackable(), 3'600'000'000);
  EXPECT_EQ(h->significant_digits(), 3);
  EXPECT_EQ(h->count(), 10'001);
  EXPECT_EQ(h->min(), 1000);
  EXPECT_EQ(h->percentile(99.99), 1000);
  EXPECT_EQ(h->max(), 100'007'935);  // the top of 100000000's bucket, as HdrHistogram reports
  EXPECT_EQ(h->percentile(100), 100'007'935);

  // Recording the same values ourselves gives the same encoding, byte for byte. (That C
  // release counted the header in the payload length field: 49 where we, Java and today's C
  // write 9; every other byte matches.)
  Histogram ours(1, 3'600'000'000, 3);
  ours.record(1000, 10'000);
  ours.record(100'000'000);
  std::string mine = ours.encode(), theirs = zlib_inflate(standard.substr(8));
  std::string mine_inflated = zlib_inflate(mine.substr(8));
  EXPECT_EQ(mine.substr(0, 4), standard.substr(0, 4));
  EXPECT_EQ(be32(mine_inflated, 4), 9u);
  EXPECT_EQ(be32(theirs, 4), 49u);
  EXPECT_EQ(mine_inflated.substr(0, 4), theirs.substr(0, 4));
  EXPECT_EQ(mine_inflated.substr(8), theirs.substr(8));

  Histogram at_boundary(1, 2048, 3);
  at_boundary.record(2048);
  EXPECT_EQ(zlib_inflate(at_boundary.encode().substr(8)),
            zlib_inflate(from_hex("1c84931400000020789c9369992cccc0c0c0cc0001309a11427130d87f80b0fecb330100459803a5")
                             .substr(8)));
}

// Decodes our blob with the test's own reading of the spec, independent of Histogram::decode.
TEST(HistogramFormat, EncodeWritesTheV2Layout) {
  Histogram h(1, 10000, 2);
  h.record(5, 3);
  h.record(100, 7);
  h.record(200, 300);
  std::string blob = h.encode();
  ASSERT_GE(blob.size(), 8u);
  EXPECT_EQ(be32(blob, 0) & ~0xf0U, 0x1c849304U);
  ASSERT_EQ(be32(blob, 4), blob.size() - 8);
  std::string e = zlib_inflate(blob.substr(8));
  ASSERT_GE(e.size(), 40u);
  EXPECT_EQ(be32(e, 0) & ~0xf0U, 0x1c849303U);
  EXPECT_EQ(be32(e, 4), e.size() - 40);
  EXPECT_EQ(be32(e, 8), 0u);
  EXPECT_EQ(be32(e, 12), 2u);
  EXPECT_EQ(be64(e, 16), 1u);
  EXPECT_EQ(be64(e, 24), 10000u);
  double ratio = 0;
  uint64_t bits = be64(e, 32);
  std::memcpy(&ratio, &bits, sizeof ratio);
  EXPECT_EQ(ratio, 1.0);
  EXPECT_EQ(e.substr(40), std::string("\x09\x06\xbb\x01\x0e\xc5\x01\xd8\x04", 9));
}

TEST(HistogramFormat, CorruptBlobsGiveErrors) {
  Histogram h;
  for (int64_t v : draw("lognormal", 2'000, 1)) h.record(v);
  std::string good = h.encode();
  auto expect_bad = [](const std::string& blob, const std::string& words) {
    auto r = Histogram::decode(blob);
    ASSERT_FALSE(r) << words;
    EXPECT_EQ(r.error().code, "bad_histogram");
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
  };
  expect_bad("", "truncated");
  expect_bad(good.substr(0, 7), "truncated");
  expect_bad("not a histogram at all", "bad cookie");
  std::string v1 = good;
  v1[3] = 0x02;  // the V1 compressed cookie
  expect_bad(v1, "bad cookie");
  expect_bad(good.substr(0, good.size() - 1), "truncated");
  std::string garbage = good.substr(0, 8) + std::string(good.size() - 8, '\x55');
  expect_bad(garbage, "inflate");

  // A valid stream whose counts go past the array: 2 digits, 1..10000 has 1024 buckets.
  std::string run_too_long;
  run_too_long.push_back('\x01');              // -1: one zero
  run_too_long += std::string("\xff\x0f", 2);  // -1024 zeros: past the end
  expect_bad(v2_compressed(0x1c849304, v2_encoding(0x1c849303, run_too_long, 2, 1, 10000)), "past the array");
  std::string too_many(1100, '\x02');  // 1100 literal ones
  expect_bad(v2_compressed(0x1c849304, v2_encoding(0x1c849303, too_many, 2, 1, 10000)), "past the array");
  // A count whose LEB128 bytes run past the payload.
  expect_bad(v2_compressed(0x1c849304, v2_encoding(0x1c849303, std::string("\x06\x80", 2), 2, 1, 10000)),
             "truncated");
  // An impossible range in the header.
  expect_bad(v2_compressed(0x1c849304, v2_encoding(0x1c849303, "", 9, 1, 10000)), "bad range");
  expect_bad(v2_compressed(0x1c849304, v2_encoding(0x1c849303, "", 2, 0, 10000)), "bad range");
  // The stream holds more payload than announced.
  std::string e = v2_encoding(0x1c849303, std::string("\x06\x06\x06", 3), 2, 1, 10000);
  e[7] = 1;
  expect_bad(v2_compressed(0x1c849304, e), "longer than");
  // A deflate stream cut short (its end and checksum missing), with a consistent outer length.
  std::string cut = good.substr(0, good.size() - 6);
  std::string cut_len;
  put32(cut_len, static_cast<uint32_t>(cut.size() - 8));
  cut.replace(4, 4, cut_len);
  expect_bad(cut, "truncated");
}

TEST(HistogramFormat, EveryTruncationAndByteFlipIsHandled) {
  Histogram h;
  for (int64_t v : draw("bimodal", 500, 2)) h.record(v);
  std::string good = h.encode();
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = Histogram::decode(good.substr(0, n));
    EXPECT_FALSE(r) << "prefix of " << n << " bytes decoded";
  }
  // Flipped bytes either fail cleanly or decode to something usable; never a crash.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    auto r = Histogram::decode(bad);
    if (r) {
      (void)r->percentile(99);
      (void)r->encode();
    } else {
      EXPECT_EQ(r.error().code, "bad_histogram");
    }
  }
}

}  // namespace
}  // namespace gatedrill
