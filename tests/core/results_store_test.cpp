#include "core/store/results_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/histogram/histogram.hpp"
#include "core/time/time_source.hpp"

namespace gatedrill {
namespace {

namespace fs = std::filesystem;

class ResultsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "results-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = (fs::path(dir_) / "results.db").string();
  }
  void TearDown() override {
    ::chmod(dir_.c_str(), 0700);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<ResultsStore> open_store() {
    auto store = ResultsStore::open(path_);
    EXPECT_TRUE(store) << store.error().code << ": " << store.error().message;
    return store ? std::move(*store) : nullptr;
  }
  std::unique_ptr<ResultsReader> open_reader() {
    auto reader = ResultsReader::open(path_);
    EXPECT_TRUE(reader) << reader.error().code << ": " << reader.error().message;
    return reader ? std::move(*reader) : nullptr;
  }

  std::string dir_, path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A plain SQLite connection standing in for another process.
struct RawDb {
  explicit RawDb(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
        << (message ? message : "");
    sqlite3_free(message);
  }
  sqlite3* db = nullptr;
};

RunRecord sample_run(int64_t started_ms) {
  RunRecord run;
  run.scenario = "scenarios/steady.lua";
  run.name = "steady";
  run.git_describe = "v0.1.0-3-gabc";
  run.host = "runner-1";
  run.started_ms = started_ms;
  run.params_json = R"({"RATE": "20000"})";
  run.run_dir = "runs/1";
  return run;
}

SampleRecord sample(int64_t run_id, std::string node, int64_t second) {
  SampleRecord s;
  s.run_id = run_id;
  s.node = std::move(node);
  s.second = second;
  s.phase = "steady";
  s.requests = 9000 + second;
  s.errors = 12;
  s.status_2xx = 8988;
  s.status_3xx = 1;
  s.status_4xx = 12;
  s.status_5xx = 2;
  s.status_counts_json = R"({"200": 8988, "401": 12})";
  s.connect_errors = 3;
  s.timeouts = 4;
  s.p50_us = 850.5;
  s.p90_us = 1200;
  s.p99_us = 7900.25;
  s.p999_us = 12000;
  s.max_us = 15000;
  s.cpu_pct = 87.5;
  s.rss_bytes = 123456789;
  return s;
}

TEST_F(ResultsStoreTest, EveryRecordTypeRoundTrips) {
  auto store = open_store();
  ASSERT_TRUE(store);
  auto run_id = store->begin_run(sample_run(1'767'225'600'000));
  ASSERT_TRUE(run_id) << run_id.error().message;

  store->add_phase({*run_id, 0, "warmup", 1000, 2000, 500.5});
  store->add_phase({*run_id, 1, "steady", 2000, 9000, 0});
  store->add_sample(sample(*run_id, "loadgen", 0));
  store->add_sample(sample(*run_id, "gw-1", 0));
  store->add_sample(sample(*run_id, "loadgen", 1));
  Histogram h;
  for (int i = 1; i <= 1000; ++i) h.record(i * 1000);
  store->add_histogram({*run_id, "loadgen", 0, "latency", h.encode()});
  store->add_histogram({*run_id, "loadgen", 0, "latency_actual", std::string("\0\x01\xff", 3)});
  store->add_event({*run_id, 5000, 6000, "gw-1", "fault", "clock_skew", R"({"skew_ms": 300000})"});
  store->add_event({*run_id, 4000, 0, "", "note", "start", "{}"});
  store->add_threshold({*run_id, "steady.p99 < 10ms", 7.9e6, "7.9ms", true, false});
  store->add_threshold({*run_id, "errors < 1%", 2.5, "2.5%", false, true});
  ASSERT_TRUE(store->flush());

  auto reader = open_reader();
  ASSERT_TRUE(reader);
  auto run = reader->run(*run_id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->scenario, "scenarios/steady.lua");
  EXPECT_EQ(run->name, "steady");
  EXPECT_EQ(run->git_describe, "v0.1.0-3-gabc");
  EXPECT_EQ(run->host, "runner-1");
  EXPECT_EQ(run->started_ms, 1'767'225'600'000);
  EXPECT_EQ(run->ended_ms, 0);
  EXPECT_EQ(run->params_json, R"({"RATE": "20000"})");
  EXPECT_EQ(run->verdict, "running");
  EXPECT_EQ(run->exit_code, -1);
  EXPECT_EQ(run->run_dir, "runs/1");

  auto phases = reader->phases(*run_id);
  ASSERT_TRUE(phases);
  ASSERT_EQ(phases->size(), 2u);
  EXPECT_EQ((*phases)[0].name, "warmup");
  EXPECT_EQ((*phases)[0].started_ms, 1000);
  EXPECT_EQ((*phases)[0].ended_ms, 2000);
  EXPECT_EQ((*phases)[0].target_rate, 500.5);
  EXPECT_EQ((*phases)[1].index, 1);

  auto all = reader->samples(*run_id);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  auto loadgen = reader->samples(*run_id, "loadgen");
  ASSERT_TRUE(loadgen);
  ASSERT_EQ(loadgen->size(), 2u);
  const SampleRecord expected = sample(*run_id, "loadgen", 1);
  const SampleRecord& got = (*loadgen)[1];
  EXPECT_EQ(got.second, 1);
  EXPECT_EQ(got.phase, expected.phase);
  EXPECT_EQ(got.requests, expected.requests);
  EXPECT_EQ(got.errors, expected.errors);
  EXPECT_EQ(got.status_2xx, expected.status_2xx);
  EXPECT_EQ(got.status_3xx, expected.status_3xx);
  EXPECT_EQ(got.status_4xx, expected.status_4xx);
  EXPECT_EQ(got.status_5xx, expected.status_5xx);
  EXPECT_EQ(got.status_counts_json, expected.status_counts_json);
  EXPECT_EQ(got.connect_errors, expected.connect_errors);
  EXPECT_EQ(got.timeouts, expected.timeouts);
  EXPECT_EQ(got.p50_us, expected.p50_us);
  EXPECT_EQ(got.p90_us, expected.p90_us);
  EXPECT_EQ(got.p99_us, expected.p99_us);
  EXPECT_EQ(got.p999_us, expected.p999_us);
  EXPECT_EQ(got.max_us, expected.max_us);
  EXPECT_EQ(got.cpu_pct, expected.cpu_pct);
  EXPECT_EQ(got.rss_bytes, expected.rss_bytes);

  auto latency = reader->histograms(*run_id, "loadgen", "latency");
  ASSERT_TRUE(latency);
  ASSERT_EQ(latency->size(), 1u);
  auto decoded = Histogram::decode((*latency)[0].hdr);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->count(), 1000);
  EXPECT_EQ(decoded->percentile(50), h.percentile(50));
  auto every_kind = reader->histograms(*run_id, "loadgen", "");
  ASSERT_TRUE(every_kind);
  ASSERT_EQ(every_kind->size(), 2u);
  EXPECT_EQ((*every_kind)[1].hdr, std::string("\0\x01\xff", 3));  // blobs keep embedded zeros

  auto events = reader->events(*run_id);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].name, "start");  // ordered by start time
  EXPECT_EQ((*events)[1].kind, "fault");
  EXPECT_EQ((*events)[1].node, "gw-1");
  EXPECT_EQ((*events)[1].end_ms, 6000);
  EXPECT_EQ((*events)[1].detail_json, R"({"skew_ms": 300000})");

  auto thresholds = reader->thresholds(*run_id);
  ASSERT_TRUE(thresholds);
  ASSERT_EQ(thresholds->size(), 2u);
  EXPECT_EQ((*thresholds)[0].expression, "steady.p99 < 10ms");
  EXPECT_EQ((*thresholds)[0].observed, 7.9e6);
  EXPECT_EQ((*thresholds)[0].observed_text, "7.9ms");
  EXPECT_TRUE((*thresholds)[0].pass);
  EXPECT_FALSE((*thresholds)[0].abort_on_fail);
  EXPECT_FALSE((*thresholds)[1].pass);
  EXPECT_TRUE((*thresholds)[1].abort_on_fail);
}

TEST_F(ResultsStoreTest, RunsAreListedNewestFirstAndEndRunSetsTheVerdict) {
  auto store = open_store();
  ASSERT_TRUE(store);
  auto first = store->begin_run(sample_run(1000));
  auto second = store->begin_run(sample_run(2000));
  ASSERT_TRUE(first && second);
  EXPECT_NE(*first, *second);
  store->add_sample(sample(*second, "loadgen", 0));
  ASSERT_TRUE(store->end_run(*second, "fail", 1, 9000));

  auto reader = open_reader();
  ASSERT_TRUE(reader);
  auto runs = reader->runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].id, *second);
  EXPECT_EQ((*runs)[0].verdict, "fail");
  EXPECT_EQ((*runs)[0].exit_code, 1);
  EXPECT_EQ((*runs)[0].ended_ms, 9000);
  EXPECT_EQ((*runs)[1].verdict, "running");
  // end_run flushed what was queued before it.
  auto samples = reader->samples(*second);
  ASSERT_TRUE(samples);
  EXPECT_EQ(samples->size(), 1u);

  auto missing = store->end_run(*second + 100, "pass", 0, 1);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "no_such_run");
  auto no_run = reader->run(*second + 100);
  ASSERT_FALSE(no_run);
  EXPECT_EQ(no_run.error().code, "no_such_run");
}

TEST_F(ResultsStoreTest, QueuedRowsAreCommittedWithinAboutASecondWithoutFlush) {
  auto store = open_store();
  ASSERT_TRUE(store);
  auto run_id = store->begin_run(sample_run(1));
  ASSERT_TRUE(run_id);
  store->add_sample(sample(*run_id, "loadgen", 0));
  auto reader = open_reader();
  ASSERT_TRUE(reader);
  SystemTimeSource clock;
  const int64_t deadline = clock.monotonic_ms() + 5000;
  size_t seen = 0;
  while (clock.monotonic_ms() < deadline) {
    auto rows = reader->samples(*run_id);
    ASSERT_TRUE(rows);
    seen = rows->size();
    if (seen == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval, not a sync
  }
  EXPECT_EQ(seen, 1u);
}

TEST_F(ResultsStoreTest, FailedBatchStaysQueuedAndTheNextFlushReportsIt) {
  auto store = open_store();
  ASSERT_TRUE(store);
  auto run_id = store->begin_run(sample_run(1));
  ASSERT_TRUE(run_id);
  RawDb other(path_);
  other.exec("BEGIN IMMEDIATE");  // another writer holds the write lock

  store->add_sample(sample(*run_id, "loadgen", 0));
  store->add_sample(sample(*run_id, "loadgen", 1));
  auto blocked = store->flush();
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().code, "db_locked");
  auto reader = open_reader();
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->samples(*run_id)->size(), 0u);

  other.exec("COMMIT");
  store->add_sample(sample(*run_id, "loadgen", 2));
  ASSERT_TRUE(store->flush());
  auto rows = reader->samples(*run_id);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 3u);  // nothing dropped, nothing doubled, order kept
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ((*rows)[static_cast<size_t>(i)].second, i);
}

TEST_F(ResultsStoreTest, ReaderSeesCommittedRowsWhileTheWriterWrites) {
  auto store = open_store();
  ASSERT_TRUE(store);
  auto run_id = store->begin_run(sample_run(1));
  ASSERT_TRUE(run_id);
  auto reader = open_reader();
  ASSERT_TRUE(reader);

  constexpr int64_t kRows = 600;
  std::atomic<bool> done{false};
  std::atomic<int> reader_failures{0};
  std::atomic<size_t> max_seen{0};
  std::thread reading([&] {
    size_t previous = 0;
    while (!done.load()) {
      auto rows = reader->samples(*run_id, "loadgen");
      if (!rows) {
        ++reader_failures;
        continue;
      }
      // Every read is a consistent prefix: seconds 0..n-1, never fewer than before.
      for (size_t i = 0; i < rows->size(); ++i)
        if ((*rows)[i].second != static_cast<int64_t>(i)) ++reader_failures;
      if (rows->size() < previous) ++reader_failures;
      previous = rows->size();
      max_seen = previous;
    }
  });
  for (int64_t s = 0; s < kRows; ++s) {
    store->add_sample(sample(*run_id, "loadgen", s));
    if (s % 50 == 49 && !store->flush()) {
      ADD_FAILURE() << "flush failed at row " << s;
      break;
    }
  }
  done = true;
  reading.join();
  EXPECT_EQ(reader_failures.load(), 0);
  EXPECT_EQ(reader->samples(*run_id, "loadgen")->size(), static_cast<size_t>(kRows));
}

TEST_F(ResultsStoreTest, ReaderIsNotBlockedByAnOpenWriteTransaction) {
  {
    auto store = open_store();
    ASSERT_TRUE(store);
    auto run_id = store->begin_run(sample_run(1));
    ASSERT_TRUE(run_id);
    store->add_sample(sample(*run_id, "loadgen", 0));
    ASSERT_TRUE(store->flush());
    RawDb writer(path_);
    writer.exec("BEGIN IMMEDIATE");
    writer.exec("INSERT INTO samples SELECT * FROM samples");  // uncommitted

    auto reader = open_reader();
    ASSERT_TRUE(reader);
    SystemTimeSource clock;
    int64_t started = clock.monotonic_ms();
    auto rows = reader->samples(*run_id);
    int64_t took = clock.monotonic_ms() - started;
    ASSERT_TRUE(rows) << rows.error().message;
    EXPECT_EQ(rows->size(), 1u);  // the committed row only
    EXPECT_LT(took, 500) << "the reader waited for the writer's lock";
    writer.exec("ROLLBACK");
  }
}

TEST_F(ResultsStoreTest, SecondWriterWhileALockIsHeldGetsDbLocked) {
  { ASSERT_TRUE(open_store()); }
  RawDb holder(path_);
  holder.exec("BEGIN EXCLUSIVE");
  auto second = ResultsStore::open(path_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, "db_locked");
  holder.exec("COMMIT");
  EXPECT_TRUE(ResultsStore::open(path_));
}

TEST_F(ResultsStoreTest, NewerSchemaIsRefusedAndTheFileIsUntouched) {
  {
    RawDb newer(path_);
    newer.exec("CREATE TABLE runs (id INTEGER PRIMARY KEY, future_column TEXT)");
    newer.exec("PRAGMA user_version = " + std::to_string(kResultsSchemaVersion + 1));
  }
  std::string before = read_file(path_);
  auto store = ResultsStore::open(path_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, "schema_too_new");
  EXPECT_NE(store.error().message.find(std::to_string(kResultsSchemaVersion + 1)),
            std::string::npos);
  EXPECT_NE(store.error().message.find(std::to_string(kResultsSchemaVersion)), std::string::npos);
  auto reader = ResultsReader::open(path_);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code, "schema_too_new");
  EXPECT_EQ(read_file(path_), before);
  EXPECT_FALSE(fs::exists(path_ + "-wal"));
}

TEST_F(ResultsStoreTest, ReopeningKeepsDataAndTheSchemaVersion) {
  int64_t run_id = 0;
  {
    auto store = open_store();
    ASSERT_TRUE(store);
    run_id = *store->begin_run(sample_run(1));
    store->add_event({run_id, 1, 0, "", "note", "hello", "{}"});
  }  // the destructor flushes
  {
    auto store = open_store();
    ASSERT_TRUE(store);
  }
  RawDb raw(path_);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw.db, "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), kResultsSchemaVersion);
  sqlite3_finalize(stmt);
  ASSERT_EQ(sqlite3_prepare_v2(raw.db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  auto reader = open_reader();
  ASSERT_TRUE(reader);
  auto events = reader->events(run_id);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].name, "hello");
}

TEST_F(ResultsStoreTest, NonResultsFilesAreRecognised) {
  auto missing = ResultsReader::open(path_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "db_open");

  std::ofstream(path_) << "just some text, long enough to be taken for a database header....\n";
  auto text = ResultsReader::open(path_);
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code, "not_a_results_db");
  auto text_writer = ResultsStore::open(path_);
  ASSERT_FALSE(text_writer);
  EXPECT_EQ(text_writer.error().code, "not_a_results_db");

  fs::remove(path_);
  {
    RawDb other(path_);
    other.exec("CREATE TABLE inventory (item TEXT)");
  }
  std::string before = read_file(path_);
  auto foreign = ResultsReader::open(path_);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, "not_a_results_db");
  auto foreign_writer = ResultsStore::open(path_);
  ASSERT_FALSE(foreign_writer);
  EXPECT_EQ(foreign_writer.error().code, "not_a_results_db");
  EXPECT_EQ(read_file(path_), before);
}

// Runs open() in a child process as an unprivileged user when we are root (root may write any
// file, so permission bits alone would not make it read-only). Returns the error code seen.
std::string open_as_unprivileged(const std::string& path) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    auto store = ResultsStore::open(path);
    std::string code = store ? "ok" : store.error().code;
    ssize_t written = ::write(pipe_fds[1], code.data(), code.size());
    ::_exit(written == static_cast<ssize_t>(code.size()) ? 0 : 4);
  }
  ::close(pipe_fds[1]);
  std::string code;
  char buf[64];
  ssize_t n = 0;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) code.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return "child failed " + std::to_string(status);
  return code;
}

TEST_F(ResultsStoreTest, ReadOnlyFileOrFolderGivesDbReadOnlyAndIsUntouched) {
  {
    auto store = open_store();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->begin_run(sample_run(1)));
  }
  std::string before = read_file(path_);
  ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);  // folder writable, file not
  EXPECT_EQ(open_as_unprivileged(path_), "db_read_only");
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0555), 0);  // file writable, folder not (WAL needs side files)
  EXPECT_EQ(open_as_unprivileged(path_), "db_read_only");
  ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
  EXPECT_EQ(read_file(path_), before);
  // Readers only need read access.
  ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
  auto reader = open_reader();
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->runs()->size(), 1u);
}

TEST_F(ResultsStoreTest, SamplesFromASecondAndRunTotalsForTheRunList) {
  auto store = open_store();
  ASSERT_TRUE(store);
  auto first = store->begin_run(sample_run(1000));
  auto second = store->begin_run(sample_run(2000));
  ASSERT_TRUE(first && second);
  for (int64_t s = 0; s < 5; ++s) {
    store->add_sample(sample(*first, "all", s));
    store->add_sample(sample(*first, "gw-1", s));
  }
  store->add_sample(sample(*second, "gw-1", 0));  // no "all" rows: not in the totals
  ASSERT_TRUE(store->flush());

  auto reader = open_reader();
  ASSERT_TRUE(reader);
  auto tail = reader->samples(*first, "all", 3);
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ(tail->front().second, 3);
  EXPECT_EQ(tail->back().second, 4);
  EXPECT_EQ(reader->samples(*first, "", 4)->size(), 2u);  // every node
  EXPECT_TRUE(reader->samples(*first, "all", 5)->empty());

  auto totals = reader->run_totals();
  ASSERT_TRUE(totals);
  ASSERT_EQ(totals->size(), 1u);
  EXPECT_EQ(totals->front().run_id, *first);
  EXPECT_EQ(totals->front().seconds, 5);
  EXPECT_EQ(totals->front().requests, 9000 * 5 + 0 + 1 + 2 + 3 + 4);
}

TEST_F(ResultsStoreTest, ATruncatedCopyIsDbCorrupt) {
  {
    auto store = open_store();
    ASSERT_TRUE(store);
    auto run_id = store->begin_run(sample_run(1));
    ASSERT_TRUE(run_id);
    for (int64_t s = 0; s < 2000; ++s) store->add_sample(sample(*run_id, "all", s));
    ASSERT_TRUE(store->flush());
  }
  std::string bytes = read_file(path_);
  ASSERT_GT(bytes.size(), 8192u);
  std::string cut = dir_ + "/cut.db";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  auto reader = ResultsReader::open(cut);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code, "db_corrupt") << reader.error().message;
}

}  // namespace
}  // namespace gatedrill
