#include "gateway/proxy/header_rules.hpp"

#include <gtest/gtest.h>

namespace gatedrill::gateway {
namespace {

TEST(HeaderRules, HopByHopHeadersInAnyCase) {
  for (auto name : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
                    "Transfer-Encoding", "Upgrade"})
    EXPECT_TRUE(is_hop_by_hop(name)) << name;
  EXPECT_FALSE(is_hop_by_hop("Content-Length"));
  EXPECT_FALSE(is_hop_by_hop("Authorization"));
}

TEST(HeaderRules, HeadersNamedByConnectionAreHopByHop) {
  EXPECT_TRUE(is_hop_by_hop("X-Secret", "close, x-secret"));
  EXPECT_TRUE(is_hop_by_hop("x-other", " keep-alive ,X-Other "));
  EXPECT_FALSE(is_hop_by_hop("x-secret", "close"));
  EXPECT_FALSE(is_hop_by_hop("x-secret", ",,"));
}

TEST(HeaderRules, InternalHeaders) {
  EXPECT_TRUE(is_internal_header("x-gatedrill-sub"));
  EXPECT_TRUE(is_internal_header("X-GateDrill-Anything"));
  EXPECT_TRUE(is_internal_header("x-envoy-original-path"));
  EXPECT_FALSE(is_internal_header("x-gatedrill"));
  EXPECT_FALSE(is_internal_header("x-request-id"));
}

TEST(HeaderRules, FingerprintHeaders) {
  EXPECT_TRUE(is_fingerprint_header("Server"));
  EXPECT_TRUE(is_fingerprint_header("x-powered-by"));
  EXPECT_FALSE(is_fingerprint_header("Server-Timing"));
}

}  // namespace
}  // namespace gatedrill::gateway
