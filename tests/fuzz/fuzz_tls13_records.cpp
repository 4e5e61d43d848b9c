// The gateway's TLS 1.3 record layer on arbitrary input: never crash, never read or write past a
// record. The first byte picks the mode: raw bytes cut into records (header parsing, lengths,
// tags that fail), or the rest sealed by a peer as one record of a chosen inner type, so the
// inner plaintext (padding, alerts, handshake messages, KeyUpdate) is what gets fuzzed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "gateway/server/tls13_records.hpp"

namespace {

using gatedrill::gateway::kTlsHeaderSize;
using gatedrill::gateway::kTlsMaxPlaintext;
using gatedrill::gateway::kTlsRecordOverhead;
using gatedrill::gateway::Tls13Records;

const uint8_t kClientSecret[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
const uint8_t kServerSecret[32] = {32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
                                   16, 15, 14, 13, 12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1};

void check(const Tls13Records::Opened& opened, size_t room) {
  if (opened.kind == Tls13Records::Opened::Kind::kData && opened.size > room) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto server = Tls13Records::create(0x1301, kClientSecret, kServerSecret);
  auto client = Tls13Records::create(0x1301, kServerSecret, kClientSecret);
  if (!server || !client) std::abort();
  const uint8_t mode = data[0];
  ++data;
  --size;
  if (mode & 1) {
    // Raw records, each copied to a buffer of its own size (ASan sees any overrun).
    while (size >= kTlsHeaderSize) {
      const size_t body = Tls13Records::body_size({data, size});
      const size_t whole = std::min(size, kTlsHeaderSize + body);
      std::vector<uint8_t> record(data, data + whole);
      check(server->open(record, record.data() + kTlsHeaderSize), whole - kTlsHeaderSize);
      data += whole;
      size -= whole;
    }
    return 0;
  }
  const size_t n = std::min(size, kTlsMaxPlaintext);
  std::vector<uint8_t> record(n + kTlsRecordOverhead);
  if (!client->seal(static_cast<uint8_t>(mode >> 1), {data, n}, record.data())) std::abort();
  std::vector<uint8_t> out(record.size() - kTlsHeaderSize - 16);
  const auto opened = server->open(record, out.data());
  check(opened, out.size());
  if (server->key_update_owed()) {
    std::vector<uint8_t> update(5 + kTlsRecordOverhead);
    if (!server->seal_key_update(update.data())) std::abort();
  }
  return 0;
}
