// gateway/server/tls13_records: the TLS 1.3 record layer against RFC 8448 section 3 (the simple
// 1-RTT trace: application traffic secrets, keys, IVs and records), KeyUpdate both ways, and
// the records it must refuse.
#include "gateway/server/tls13_records.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/crypto.h>

namespace gatedrill::gateway {
namespace {

using Bytes = std::vector<uint8_t>;
using Kind = Tls13Records::Opened::Kind;

Bytes hex(const char* text) {
  long size = 0;
  unsigned char* raw = OPENSSL_hexstr2buf(text, &size);
  Bytes out(raw, raw + size);
  OPENSSL_free(raw);
  return out;
}

// RFC 8448 section 3 (TLS_AES_128_GCM_SHA256).
const Bytes kClientSecret = hex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5");
const Bytes kServerSecret = hex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643");
// 50 bytes 00..31 from the client (its sequence 0) and from the server (its sequence 1: the
// NewSessionTicket went first), then the client's close_notify (its sequence 1).
const Bytes kClientData =
    hex("1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a"
        "20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4");
const Bytes kServerData =
    hex("17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb"
        "501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d");
const Bytes kClientAlert = hex("1703030013c9872760655666b74d7ff1153efd6db6d0b0e3");

Bytes payload() {
  Bytes p(50);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i);
  return p;
}

// The server's view (reads the client's secret) and a client's (the other way round).
Tls13Records server(uint16_t suite = 0x1301, const Bytes& client = kClientSecret,
                    const Bytes& server = kServerSecret) {
  auto r = Tls13Records::create(suite, client, server);
  EXPECT_TRUE(r.has_value());
  return *r;
}
Tls13Records client(uint16_t suite = 0x1301, const Bytes& client = kClientSecret,
                    const Bytes& server = kServerSecret) {
  auto r = Tls13Records::create(suite, server, client);
  EXPECT_TRUE(r.has_value());
  return *r;
}

Bytes sealed(Tls13Records& from, uint8_t type, const Bytes& data) {
  Bytes out(data.size() + kTlsRecordOverhead);
  EXPECT_TRUE(from.seal(type, data, out.data()));
  return out;
}

// Opens `record` in place; the data (if any) in `data`.
Tls13Records::Opened opened(Tls13Records& to, Bytes record, Bytes* data = nullptr) {
  auto result = to.open(record, record.data() + kTlsHeaderSize);
  if (data != nullptr && result.kind == Kind::kData)
    data->assign(record.begin() + kTlsHeaderSize,
                 record.begin() + kTlsHeaderSize + static_cast<long>(result.size));
  return result;
}

TEST(Tls13Records, HkdfExpandLabelGivesTheTraceKeysAndIvs) {
  uint8_t key[16];
  uint8_t iv[12];
  ASSERT_TRUE(hkdf_expand_label(32, kServerSecret, "key", key));
  ASSERT_TRUE(hkdf_expand_label(32, kServerSecret, "iv", iv));
  EXPECT_EQ(Bytes(key, key + 16), hex("9f02283b6c9c07efc26bb9f2ac92e356"));
  EXPECT_EQ(Bytes(iv, iv + 12), hex("cf782b88dd83549aadf1e984"));
  ASSERT_TRUE(hkdf_expand_label(32, kClientSecret, "key", key));
  ASSERT_TRUE(hkdf_expand_label(32, kClientSecret, "iv", iv));
  EXPECT_EQ(Bytes(key, key + 16), hex("17422dda596ed5d9acd890e3c63f5051"));
  EXPECT_EQ(Bytes(iv, iv + 12), hex("5b78923dee08579033e523d9"));
}

TEST(Tls13Records, OpensAndSealsTheTraceRecords) {
  Tls13Records s = server();
  Bytes data;
  auto first = opened(s, kClientData, &data);
  ASSERT_EQ(first.kind, Kind::kData);
  EXPECT_EQ(data, payload());
  EXPECT_EQ(s.read_sequence(), 1u);

  s.set_write_sequence(1);  // the trace's NewSessionTicket
  EXPECT_EQ(sealed(s, 23, payload()), kServerData);
  EXPECT_EQ(s.write_sequence(), 2u);

  EXPECT_EQ(opened(s, kClientAlert).kind, Kind::kCloseNotify);
}

TEST(Tls13Records, RefusesTamperedShortOversizedAndPlaintextRecords) {
  Tls13Records s = server();
  Bytes tampered = kClientData;
  tampered.back() ^= 1;  // the tag
  auto bad = opened(s, tampered);
  EXPECT_EQ(bad.kind, Kind::kFatal);
  EXPECT_EQ(bad.alert, TlsAlert::kBadRecordMac);

  Bytes header_only = {0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5};
  EXPECT_EQ(opened(s, header_only).alert, TlsAlert::kBadRecordMac);

  Bytes oversized(kTlsHeaderSize + kTlsMaxCiphertext + 1);
  oversized[0] = 0x17;
  oversized[3] = static_cast<uint8_t>((kTlsMaxCiphertext + 1) >> 8);
  oversized[4] = static_cast<uint8_t>(kTlsMaxCiphertext + 1);
  EXPECT_EQ(opened(s, oversized).alert, TlsAlert::kRecordOverflow);

  Bytes plaintext_alert = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
  EXPECT_EQ(opened(s, plaintext_alert).alert, TlsAlert::kUnexpectedMessage);

  // A failed record does not move the sequence: the trace's record still opens.
  EXPECT_EQ(opened(s, kClientData).kind, Kind::kData);
}

TEST(Tls13Records, StripsPaddingAndRefusesAllZeroPlaintext) {
  Tls13Records c = client();
  Tls13Records s = server();
  // Inner plaintext "abc" 0x17 0 0 0: data "abc" with three bytes of padding.
  Bytes data;
  auto padded = opened(s, sealed(c, 0, {'a', 'b', 'c', 0x17, 0, 0}), &data);
  ASSERT_EQ(padded.kind, Kind::kData);
  EXPECT_EQ(data, (Bytes{'a', 'b', 'c'}));
  auto zeros = opened(s, sealed(c, 0, {0, 0}));
  EXPECT_EQ(zeros.kind, Kind::kFatal);
  EXPECT_EQ(zeros.alert, TlsAlert::kUnexpectedMessage);
}

TEST(Tls13Records, PeerAlertsAndEmptyData) {
  Tls13Records c = client();
  Tls13Records s = server();
  EXPECT_EQ(opened(s, sealed(c, 23, {})).kind, Kind::kNone);
  EXPECT_EQ(opened(s, sealed(c, 21, {1, 90})).kind, Kind::kNone);  // user_canceled
  auto alert = opened(s, sealed(c, 21, {2, 40}));                  // handshake_failure
  EXPECT_EQ(alert.kind, Kind::kPeerAlert);
  EXPECT_EQ(static_cast<int>(alert.alert), 40);
  EXPECT_EQ(opened(s, sealed(c, 21, {1})).alert, TlsAlert::kDecodeError);
}

TEST(Tls13Records, KeyUpdateRequestedBothWays) {
  Tls13Records c = client();
  Tls13Records s = server();
  // The client updates its write key and asks for ours.
  EXPECT_EQ(opened(s, sealed(c, 22, {24, 0, 0, 1, 1})).kind, Kind::kNone);
  EXPECT_TRUE(s.key_update_owed());
  EXPECT_EQ(s.read_sequence(), 0u);
  Bytes next_client(32);
  ASSERT_TRUE(hkdf_expand_label(32, kClientSecret, "traffic upd", next_client));
  Tls13Records c2 = client(0x1301, next_client, kServerSecret);
  Bytes data;
  ASSERT_EQ(opened(s, sealed(c2, 23, {'h', 'i'}), &data).kind, Kind::kData);
  EXPECT_EQ(data, (Bytes{'h', 'i'}));

  // Ours, under the old key; then data under the next one.
  Bytes update(5 + kTlsRecordOverhead);
  ASSERT_TRUE(s.seal_key_update(update.data()));
  EXPECT_FALSE(s.key_update_owed());
  EXPECT_EQ(opened(c2, update).kind, Kind::kNone);
  EXPECT_FALSE(c2.key_update_owed());  // ours said update_not_requested
  ASSERT_EQ(opened(c2, sealed(s, 23, {'o', 'k'}), &data).kind, Kind::kData);
  EXPECT_EQ(data, (Bytes{'o', 'k'}));
}

TEST(Tls13Records, OtherHandshakeMessagesAreUnexpected) {
  Tls13Records c = client();
  Tls13Records s = server();
  // NewSessionTicket from a client, CertificateRequest-style post-handshake messages.
  EXPECT_EQ(opened(s, sealed(c, 22, {4, 0, 0, 1, 0})).alert, TlsAlert::kUnexpectedMessage);
  Tls13Records c2 = client();
  Tls13Records s2 = server();
  // A KeyUpdate split over two records.
  EXPECT_EQ(opened(s2, sealed(c2, 22, {24, 0})).alert, TlsAlert::kUnexpectedMessage);
  Tls13Records c3 = client();
  Tls13Records s3 = server();
  EXPECT_EQ(opened(s3, sealed(c3, 22, {24, 0, 0, 1, 2})).alert, TlsAlert::kIllegalParameter);
}

TEST(Tls13Records, OtherSuitesRoundTripAndWrongSecretsAreRefused) {
  const Bytes secret48(48, 7);
  const Bytes other48(48, 9);
  for (uint16_t suite : {0x1302, 0x1303}) {
    const Bytes& a = suite == 0x1302 ? secret48 : kClientSecret;
    const Bytes& b = suite == 0x1302 ? other48 : kServerSecret;
    Tls13Records c = client(suite, a, b);
    Tls13Records s = server(suite, a, b);
    Bytes big(kTlsMaxPlaintext, 'x');
    Bytes data;
    ASSERT_EQ(opened(s, sealed(c, 23, big), &data).kind, Kind::kData) << suite;
    EXPECT_EQ(data, big);
  }
  EXPECT_FALSE(Tls13Records::create(0x1302, kClientSecret, kServerSecret));  // SHA-384: 48
  EXPECT_FALSE(Tls13Records::create(0x1304, kClientSecret, kServerSecret));  // CCM: OpenSSL's
  Tls13Records s = server();
  Bytes too_big(kTlsMaxPlaintext + 1 + kTlsRecordOverhead);
  EXPECT_FALSE(
      s.seal(23, std::span<const uint8_t>(too_big.data(), kTlsMaxPlaintext + 1), too_big.data()));
}

// The cipher contexts are per thread and shared by many connections' keys (a few hundred slots,
// re-keyed on a miss): more connections than slots, served in turn and out of turn, each open
// their own records only.
TEST(Tls13Records, ManyConnectionsInTurnKeepTheirOwnKeys) {
  constexpr int kConnections = 600;
  std::vector<Tls13Records> clients, servers;
  for (int i = 0; i < kConnections; ++i) {
    Bytes a = kClientSecret, b = kServerSecret;
    a[0] = static_cast<uint8_t>(i);
    a[1] = static_cast<uint8_t>(i >> 8);
    clients.push_back(client(0x1301, a, b));
    servers.push_back(server(0x1301, a, b));
  }
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kConnections; ++i) {
      const int k = round == 1 ? (i * 7) % kConnections : i;  // out of turn in round 2
      const Bytes message = {static_cast<uint8_t>(k), static_cast<uint8_t>(k >> 8),
                             static_cast<uint8_t>(round)};
      Bytes data;
      ASSERT_EQ(opened(servers[k], sealed(clients[k], 23, message), &data).kind, Kind::kData)
          << "connection " << k << " round " << round;
      EXPECT_EQ(data, message);
    }
  }
  // Another connection's record fails its tag, whoever's key sits in the slot.
  const Bytes from_zero = sealed(clients[0], 23, Bytes{1, 2, 3});
  EXPECT_EQ(opened(servers[1], from_zero).alert, TlsAlert::kBadRecordMac);
  EXPECT_EQ(opened(servers[0], from_zero).kind, Kind::kData);
}

TEST(Tls13Records, SequenceNeverWraps) {
  Tls13Records s = server();
  s.set_write_sequence(UINT64_MAX);
  Bytes out(1 + kTlsRecordOverhead);
  EXPECT_FALSE(s.seal(23, Bytes{'x'}, out.data()));
  s.set_read_sequence(UINT64_MAX);
  EXPECT_EQ(opened(s, kClientData).kind, Kind::kFatal);
}

}  // namespace
}  // namespace gatedrill::gateway
