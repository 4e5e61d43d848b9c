#include "core/store/results_store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <variant>

namespace gatedrill {

namespace {

// How long a statement waits for another connection's lock before giving up. Short: a second
// writer on the same file is a mistake to report, not something to wait out.
constexpr int kBusyTimeoutMs = 1000;
// The writer commits what is queued about this often.
constexpr auto kCommitInterval = std::chrono::seconds(1);

// --- schema ----------------------------------------------------------------------------------
// Migration N brings a database from user_version N-1 to N. A new schema version is one more
// entry here (and kResultsSchemaVersion + 1); migrations run in one transaction on open.
struct Migration {
  int version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  scenario TEXT NOT NULL,
  name TEXT NOT NULL,
  git_describe TEXT NOT NULL,
  host TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  ended_ms INTEGER NOT NULL DEFAULT 0,
  params_json TEXT NOT NULL,
  verdict TEXT NOT NULL,
  exit_code INTEGER NOT NULL,
  run_dir TEXT NOT NULL
);
CREATE TABLE phases (
  run_id INTEGER NOT NULL,
  phase_index INTEGER NOT NULL,
  name TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  ended_ms INTEGER NOT NULL,
  target_rate REAL NOT NULL
);
CREATE INDEX phases_run ON phases (run_id, phase_index);
CREATE TABLE samples (
  run_id INTEGER NOT NULL,
  node TEXT NOT NULL,
  second INTEGER NOT NULL,
  phase TEXT NOT NULL,
  requests INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  status_2xx INTEGER NOT NULL,
  status_3xx INTEGER NOT NULL,
  status_4xx INTEGER NOT NULL,
  status_5xx INTEGER NOT NULL,
  status_counts_json TEXT NOT NULL,
  connect_errors INTEGER NOT NULL,
  timeouts INTEGER NOT NULL,
  p50_us REAL NOT NULL,
  p90_us REAL NOT NULL,
  p99_us REAL NOT NULL,
  p999_us REAL NOT NULL,
  max_us REAL NOT NULL,
  cpu_pct REAL NOT NULL,
  rss_bytes INTEGER NOT NULL
);
CREATE INDEX samples_run_second ON samples (run_id, second);
CREATE INDEX samples_run_node ON samples (run_id, node);
CREATE TABLE histograms (
  run_id INTEGER NOT NULL,
  node TEXT NOT NULL,
  second INTEGER NOT NULL,
  kind TEXT NOT NULL,
  hdr BLOB NOT NULL
);
CREATE INDEX histograms_run_second ON histograms (run_id, second);
CREATE INDEX histograms_run_node ON histograms (run_id, node);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  node TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  detail_json TEXT NOT NULL
);
CREATE INDEX events_run ON events (run_id, start_ms);
CREATE TABLE thresholds (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  expression TEXT NOT NULL,
  observed REAL NOT NULL,
  observed_text TEXT NOT NULL,
  pass INTEGER NOT NULL,
  abort_on_fail INTEGER NOT NULL
);
CREATE INDEX thresholds_run ON thresholds (run_id);
)sql"},
};

static_assert(kMigrations[std::size(kMigrations) - 1].version == kResultsSchemaVersion,
              "the last migration must produce kResultsSchemaVersion");

// --- small SQLite helpers ----------------------------------------------------------------------

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

std::string sqlite_message(sqlite3* db) {
  return db ? sqlite3_errmsg(db) : "out of memory";
}

bool is_busy(int rc) {
  return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

Result<StmtPtr> prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return make_error("db_error", std::string("cannot prepare statement: ") + sqlite_message(db));
  }
  return StmtPtr(stmt);
}

// Binds parameters 1..n in order, so each insert lists its values once.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* stmt) : stmt_(stmt) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Binder& i64(int64_t v) {
    sqlite3_bind_int64(stmt_, ++n_, v);
    return *this;
  }
  Binder& real(double v) {
    sqlite3_bind_double(stmt_, ++n_, v);
    return *this;
  }
  Binder& text(const std::string& v) {
    sqlite3_bind_text(stmt_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Binder& blob(const std::string& v) {
    sqlite3_bind_blob(stmt_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }

 private:
  sqlite3_stmt* stmt_;
  int n_ = 0;
};

// Reads columns 0..n in order.
class Row {
 public:
  explicit Row(sqlite3_stmt* stmt) : stmt_(stmt) {}
  int64_t i64() { return sqlite3_column_int64(stmt_, n_++); }
  double real() { return sqlite3_column_double(stmt_, n_++); }
  std::string text() {
    const auto* p = sqlite3_column_text(stmt_, n_);
    int size = sqlite3_column_bytes(stmt_, n_++);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(size))
             : std::string();
  }
  std::string blob() {
    const void* p = sqlite3_column_blob(stmt_, n_);
    int size = sqlite3_column_bytes(stmt_, n_++);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(size)) : std::string();
  }

 private:
  sqlite3_stmt* stmt_;
  int n_ = 0;
};

Result<void> exec(sqlite3* db, const char* sql, const char* code_on_error = "db_error") {
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return {};
  std::string text = message ? message : sqlite_message(db);
  sqlite3_free(message);
  return make_error(is_busy(rc) ? "db_locked" : code_on_error, text);
}

// PRAGMA user_version; rc carries the SQLite result code for the caller to classify.
int read_user_version(sqlite3* db, int& version) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) return rc;
  version = sqlite3_column_int(stmt.get(), 0);
  return SQLITE_OK;
}

// True when the database holds any table (an unrelated database must not get our schema).
Result<bool> has_tables(sqlite3* db, const char* table_name = nullptr) {
  const char* sql = table_name
                        ? "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1"
                        : "SELECT count(*) FROM sqlite_master WHERE type = 'table'";
  auto stmt = prepare(db, sql);
  if (!stmt) return stmt.error();
  if (table_name) sqlite3_bind_text(stmt->get(), 1, table_name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt->get());
  if (rc != SQLITE_ROW)
    return make_error(is_busy(rc) ? "db_locked" : "db_error", sqlite_message(db));
  return sqlite3_column_int64(stmt->get(), 0) > 0;
}

Error schema_too_new(const std::string& path, int version) {
  return make_error("schema_too_new",
                    path + " has results schema version " + std::to_string(version) +
                        "; this build reads up to version " +
                        std::to_string(kResultsSchemaVersion) + " (use a newer gatedrill)");
}

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// --- queued rows -------------------------------------------------------------------------------

using QueuedRow =
    std::variant<PhaseRecord, SampleRecord, HistogramRecord, EventRecord, ThresholdRecord>;

struct Queued {
  uint64_t seq;
  QueuedRow row;
};

constexpr const char* kInsertRun =
    "INSERT INTO runs (scenario, name, git_describe, host, started_ms, ended_ms, params_json, "
    "verdict, "
    "exit_code, run_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kEndRun =
    "UPDATE runs SET ended_ms = ?, verdict = ?, exit_code = ? WHERE id = ?";
constexpr const char* kInsertPhase =
    "INSERT INTO phases (run_id, phase_index, name, started_ms, ended_ms, target_rate) VALUES (?, "
    "?, ?, ?, ?, ?)";
constexpr const char* kInsertSample =
    "INSERT INTO samples (run_id, node, second, phase, requests, errors, status_2xx, status_3xx, "
    "status_4xx, "
    "status_5xx, status_counts_json, connect_errors, timeouts, p50_us, p90_us, p99_us, p999_us, "
    "max_us, cpu_pct, "
    "rss_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kInsertHistogram =
    "INSERT INTO histograms (run_id, node, second, kind, hdr) VALUES (?, ?, ?, ?, ?)";
constexpr const char* kInsertEvent =
    "INSERT INTO events (run_id, start_ms, end_ms, node, kind, name, detail_json) VALUES (?, ?, ?, "
    "?, ?, ?, ?)";
constexpr const char* kInsertThreshold =
    "INSERT INTO thresholds (run_id, expression, observed, observed_text, pass, abort_on_fail) "
    "VALUES (?, ?, ?, ?, ?, ?)";

}  // namespace

// =============================================================================================
// ResultsStore

struct ResultsStore::Impl {
  std::string path;
  DbPtr db;
  StmtPtr insert_run, end_run, insert_phase, insert_sample, insert_histogram, insert_event,
      insert_threshold, begin, commit, rollback;

  std::mutex db_mutex;  // the connection: the writer thread and begin_run/end_run

  std::mutex queue_mutex;  // everything below
  std::condition_variable wake_writer;
  std::condition_variable batch_done;
  std::deque<Queued> pending;
  uint64_t next_seq = 1;
  uint64_t committed_seq = 0;     // every row with seq <= this is committed
  uint64_t attempts_started = 0;  // write attempts, numbered from 1
  uint64_t last_failed_attempt = 0;
  bool flush_requested = false;
  bool stopping = false;
  std::optional<Error> first_error;  // since the last flush()
  std::thread writer;

  void enqueue(QueuedRow row) {
    {
      std::lock_guard lock(queue_mutex);
      pending.push_back(Queued{next_seq++, std::move(row)});
    }
  }

  Result<void> insert(const QueuedRow& row);
  Result<void> write_batch(const std::deque<Queued>& batch);
  void writer_loop();
  Result<void> flush();
};

Result<void> ResultsStore::Impl::insert(const QueuedRow& row) {
  sqlite3_stmt* stmt = nullptr;
  if (const auto* p = std::get_if<PhaseRecord>(&row)) {
    stmt = insert_phase.get();
    Binder(stmt)
        .i64(p->run_id)
        .i64(p->index)
        .text(p->name)
        .i64(p->started_ms)
        .i64(p->ended_ms)
        .real(p->target_rate);
  } else if (const auto* s = std::get_if<SampleRecord>(&row)) {
    stmt = insert_sample.get();
    Binder(stmt)
        .i64(s->run_id)
        .text(s->node)
        .i64(s->second)
        .text(s->phase)
        .i64(s->requests)
        .i64(s->errors)
        .i64(s->status_2xx)
        .i64(s->status_3xx)
        .i64(s->status_4xx)
        .i64(s->status_5xx)
        .text(s->status_counts_json)
        .i64(s->connect_errors)
        .i64(s->timeouts)
        .real(s->p50_us)
        .real(s->p90_us)
        .real(s->p99_us)
        .real(s->p999_us)
        .real(s->max_us)
        .real(s->cpu_pct)
        .i64(s->rss_bytes);
  } else if (const auto* h = std::get_if<HistogramRecord>(&row)) {
    stmt = insert_histogram.get();
    Binder(stmt).i64(h->run_id).text(h->node).i64(h->second).text(h->kind).blob(h->hdr);
  } else if (const auto* e = std::get_if<EventRecord>(&row)) {
    stmt = insert_event.get();
    Binder(stmt)
        .i64(e->run_id)
        .i64(e->start_ms)
        .i64(e->end_ms)
        .text(e->node)
        .text(e->kind)
        .text(e->name)
        .text(e->detail_json);
  } else if (const auto* t = std::get_if<ThresholdRecord>(&row)) {
    stmt = insert_threshold.get();
    Binder(stmt)
        .i64(t->run_id)
        .text(t->expression)
        .real(t->observed)
        .text(t->observed_text)
        .i64(t->pass ? 1 : 0)
        .i64(t->abort_on_fail ? 1 : 0);
  }
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE)
    return make_error(is_busy(rc) ? "db_locked" : "db_write",
                      "cannot write to " + path + ": " + sqlite_message(db.get()));
  return {};
}

Result<void> ResultsStore::Impl::write_batch(const std::deque<Queued>& batch) {
  std::lock_guard lock(db_mutex);
  int rc = sqlite3_step(begin.get());
  sqlite3_reset(begin.get());
  if (rc != SQLITE_DONE)
    return make_error(is_busy(rc) ? "db_locked" : "db_write",
                      "cannot start a transaction on " + path + ": " + sqlite_message(db.get()));
  for (const auto& q : batch) {
    if (auto r = insert(q.row); !r) {
      sqlite3_step(rollback.get());
      sqlite3_reset(rollback.get());
      return r;
    }
  }
  rc = sqlite3_step(commit.get());
  sqlite3_reset(commit.get());
  if (rc != SQLITE_DONE) {
    Error error = make_error(is_busy(rc) ? "db_locked" : "db_write",
                             "cannot commit to " + path + ": " + sqlite_message(db.get()));
    if (!sqlite3_get_autocommit(db.get())) {
      sqlite3_step(rollback.get());
      sqlite3_reset(rollback.get());
    }
    return error;
  }
  return {};
}

void ResultsStore::Impl::writer_loop() {
  std::unique_lock lock(queue_mutex);
  while (true) {
    wake_writer.wait_for(lock, kCommitInterval, [this] { return stopping || flush_requested; });
    flush_requested = false;
    if (pending.empty()) {
      if (stopping) return;
      continue;
    }
    std::deque<Queued> batch;
    batch.swap(pending);
    uint64_t attempt = ++attempts_started;
    lock.unlock();
    auto result = write_batch(batch);
    lock.lock();
    if (result) {
      committed_seq = batch.back().seq;
    } else {
      // Keep the rows, in order, ahead of anything queued meanwhile; the next attempt retries.
      if (!first_error) first_error = result.error();
      last_failed_attempt = attempt;
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) pending.push_front(std::move(*it));
    }
    batch_done.notify_all();
    if (stopping && (!result || pending.empty())) return;
  }
}

// Waits for an attempt that covers everything queued before the call. Ok when it all got
// committed; otherwise the first error since the last flush, with the rows still queued.
Result<void> ResultsStore::Impl::flush() {
  std::unique_lock lock(queue_mutex);
  uint64_t target = next_seq - 1;
  uint64_t started_before = attempts_started;
  if (committed_seq < target) {
    flush_requested = true;
    wake_writer.notify_one();
    batch_done.wait(
        lock, [&] { return committed_seq >= target || last_failed_attempt > started_before; });
  }
  if (committed_seq >= target) {
    first_error.reset();
    return {};
  }
  Error error =
      first_error.value_or(make_error("db_write", "rows of " + path + " are not committed"));
  first_error.reset();
  return error;
}

ResultsStore::ResultsStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->writer = std::thread([impl = impl_.get()] { impl->writer_loop(); });
}

ResultsStore::~ResultsStore() {
  if (!impl_) return;
  if (auto r = impl_->flush(); !r) {
    // Nowhere to return it: say so rather than lose rows silently.
    std::fprintf(stderr, "results store: rows not saved on close: %s\n", r.error().message.c_str());
  }
  {
    std::lock_guard lock(impl_->queue_mutex);
    impl_->stopping = true;
  }
  impl_->wake_writer.notify_one();
  impl_->writer.join();
}

const std::string& ResultsStore::path() const {
  return impl_->path;
}

Result<std::unique_ptr<ResultsStore>> ResultsStore::open(const std::string& path) {
  // Permissions first: SQLite would otherwise silently fall back to read-only, or fail later
  // when WAL needs its side files next to the database.
  std::string dir = parent_dir(path);
  bool exists = file_exists(path);
  if (!exists && !file_exists(dir))
    return make_error("db_open", "cannot create " + path + ": " + dir + " does not exist");
  if ((exists && ::access(path.c_str(), W_OK) != 0) || ::access(dir.c_str(), W_OK) != 0)
    return make_error("db_read_only",
                      path + " is read-only (the database and its folder must be writable)");

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  impl->db.reset(raw);
  if (rc != SQLITE_OK) {
    bool read_only = (rc & 0xff) == SQLITE_READONLY;
    return make_error(read_only ? "db_read_only" : "db_open",
                      "cannot open " + path + ": " + sqlite_message(raw));
  }
  sqlite3* db = impl->db.get();
  if (sqlite3_db_readonly(db, "main") == 1)
    return make_error("db_read_only", path + " can only be opened read-only");
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db, 1);

  // Read-only checks before anything that could write: the version, then whether it is ours.
  int version = 0;
  rc = read_user_version(db, version);
  if (rc != SQLITE_OK) {
    if (is_busy(rc)) return make_error("db_locked", path + " is locked by another process");
    if ((rc & 0xff) == SQLITE_NOTADB)
      return make_error("not_a_results_db", path + " is not a SQLite database");
    return make_error("db_open", "cannot read " + path + ": " + sqlite_message(db));
  }
  if (version > kResultsSchemaVersion) return schema_too_new(path, version);
  if (version == 0) {
    auto tables = has_tables(db);
    if (!tables) return tables.error();
    if (*tables)
      return make_error("not_a_results_db", path + " is a SQLite database of something else");
  }

  if (auto r = exec(db, "PRAGMA journal_mode=WAL"); !r) {
    if (r.error().code == "db_locked")
      return make_error("db_locked", path + " is locked by another process");
    return make_error("db_open", "cannot switch " + path + " to WAL: " + r.error().message);
  }
  if (auto r = exec(db, "PRAGMA synchronous=NORMAL"); !r) return r.error();
  if (auto r = exec(db, "PRAGMA cache_size=-32768"); !r) return r.error();

  // Migrations under the write lock: if another writer holds it, we are not the one writer.
  if (auto r = exec(db, "BEGIN IMMEDIATE"); !r) {
    if (r.error().code == "db_locked")
      return make_error("db_locked", path + " is locked by another writer (waited " +
                                         std::to_string(kBusyTimeoutMs) + " ms)");
    return make_error("db_open", "cannot lock " + path + ": " + r.error().message);
  }
  rc = read_user_version(db, version);  // again: another writer may have migrated meanwhile
  if (rc != SQLITE_OK || version > kResultsSchemaVersion) {
    (void)exec(db, "ROLLBACK");
    if (rc != SQLITE_OK)
      return make_error("db_open", "cannot read " + path + ": " + sqlite_message(db));
    return schema_too_new(path, version);
  }
  for (const auto& m : kMigrations) {
    if (m.version <= version) continue;
    if (auto r = exec(db, m.sql); !r) {
      (void)exec(db, "ROLLBACK");
      return make_error("db_open", "migration to schema version " + std::to_string(m.version) +
                                       " failed: " + r.error().message);
    }
  }
  // PRAGMA takes no bound parameters; the value is our own constant.
  std::string set_version = "PRAGMA user_version = " + std::to_string(kResultsSchemaVersion);
  if (auto r = exec(db, set_version.c_str()); !r) {
    (void)exec(db, "ROLLBACK");
    return make_error("db_open", "cannot set the schema version: " + r.error().message);
  }
  if (auto r = exec(db, "COMMIT"); !r) {
    (void)exec(db, "ROLLBACK");
    return make_error(r.error().code == "db_locked" ? "db_locked" : "db_open",
                      "cannot commit the schema of " + path + ": " + r.error().message);
  }

  struct {
    StmtPtr* target;
    const char* sql;
  } statements[] = {
      {&impl->insert_run, kInsertRun},
      {&impl->end_run, kEndRun},
      {&impl->insert_phase, kInsertPhase},
      {&impl->insert_sample, kInsertSample},
      {&impl->insert_histogram, kInsertHistogram},
      {&impl->insert_event, kInsertEvent},
      {&impl->insert_threshold, kInsertThreshold},
      {&impl->begin, "BEGIN IMMEDIATE"},
      {&impl->commit, "COMMIT"},
      {&impl->rollback, "ROLLBACK"},
  };
  for (auto& s : statements) {
    auto stmt = prepare(db, s.sql);
    if (!stmt) return stmt.error();
    *s.target = std::move(*stmt);
  }
  return std::unique_ptr<ResultsStore>(new ResultsStore(std::move(impl)));
}

Result<int64_t> ResultsStore::begin_run(RunRecord run) {
  if (run.verdict.empty()) run.verdict = "running";
  std::lock_guard lock(impl_->db_mutex);
  sqlite3_stmt* stmt = impl_->insert_run.get();
  Binder(stmt)
      .text(run.scenario)
      .text(run.name)
      .text(run.git_describe)
      .text(run.host)
      .i64(run.started_ms)
      .i64(run.ended_ms)
      .text(run.params_json)
      .text(run.verdict)
      .i64(run.exit_code)
      .text(run.run_dir);
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE)
    return make_error(
        is_busy(rc) ? "db_locked" : "db_write",
        "cannot record the run in " + impl_->path + ": " + sqlite_message(impl_->db.get()));
  return static_cast<int64_t>(sqlite3_last_insert_rowid(impl_->db.get()));
}

void ResultsStore::add_phase(PhaseRecord phase) {
  impl_->enqueue(std::move(phase));
}
void ResultsStore::add_sample(SampleRecord sample) {
  impl_->enqueue(std::move(sample));
}
void ResultsStore::add_histogram(HistogramRecord histogram) {
  impl_->enqueue(std::move(histogram));
}
void ResultsStore::add_event(EventRecord event) {
  impl_->enqueue(std::move(event));
}
void ResultsStore::add_threshold(ThresholdRecord threshold) {
  impl_->enqueue(std::move(threshold));
}

Result<void> ResultsStore::flush() {
  return impl_->flush();
}

Result<void> ResultsStore::end_run(int64_t run_id, const std::string& verdict, int exit_code,
                                   int64_t ended_ms) {
  if (auto r = flush(); !r) return r;
  std::lock_guard lock(impl_->db_mutex);
  sqlite3* db = impl_->db.get();
  sqlite3_stmt* stmt = impl_->end_run.get();
  Binder(stmt).i64(ended_ms).text(verdict).i64(exit_code).i64(run_id);
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE)
    return make_error(is_busy(rc) ? "db_locked" : "db_write",
                      "cannot close run " + std::to_string(run_id) + ": " + sqlite_message(db));
  if (sqlite3_changes(db) == 0)
    return make_error("no_such_run", "run " + std::to_string(run_id) + " is not in " + impl_->path);
  return {};
}

// =============================================================================================
// ResultsReader

struct ResultsReader::Impl {
  std::string path;
  DbPtr db;
  mutable std::mutex mutex;  // one statement at a time on the connection

  template <class T, class Bind, class Read>
  Result<std::vector<T>> query(const char* sql, Bind bind, Read read) const {
    std::lock_guard lock(mutex);
    auto stmt = prepare(db.get(), sql);
    if (!stmt) return stmt.error();
    bind(stmt->get());
    std::vector<T> out;
    while (true) {
      int rc = sqlite3_step(stmt->get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW)
        return make_error(is_busy(rc) ? "db_locked" : "db_read",
                          "cannot read " + path + ": " + sqlite_message(db.get()));
      Row row(stmt->get());
      out.push_back(read(row));
    }
    return out;
  }
};

namespace {

constexpr const char* kRunColumns =
    "SELECT id, scenario, name, git_describe, host, started_ms, ended_ms, params_json, verdict, "
    "exit_code, run_dir "
    "FROM runs";

RunRecord read_run(Row& r) {
  RunRecord run;
  run.id = r.i64();
  run.scenario = r.text();
  run.name = r.text();
  run.git_describe = r.text();
  run.host = r.text();
  run.started_ms = r.i64();
  run.ended_ms = r.i64();
  run.params_json = r.text();
  run.verdict = r.text();
  run.exit_code = static_cast<int>(r.i64());
  run.run_dir = r.text();
  return run;
}

}  // namespace

namespace {

// A truncated copy or a disk error: say so, rather than "cannot open".
Error corrupt(const std::string& path, sqlite3* db) {
  return make_error("db_corrupt", path + " is damaged (" + sqlite_message(db) +
                                      "): a copy taken while it was written, or a disk error");
}

}  // namespace

ResultsReader::ResultsReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultsReader::~ResultsReader() = default;

Result<std::unique_ptr<ResultsReader>> ResultsReader::open(const std::string& path) {
  if (!file_exists(path)) return make_error("db_open", "no results database at " + path);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  impl->db.reset(raw);
  if (rc != SQLITE_OK)
    return make_error("db_open", "cannot open " + path + ": " + sqlite_message(raw));
  sqlite3* db = impl->db.get();
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db, 1);

  int version = 0;
  rc = read_user_version(db, version);
  if (rc != SQLITE_OK) {
    if ((rc & 0xff) == SQLITE_NOTADB)
      return make_error("not_a_results_db", path + " is not a SQLite database");
    if ((rc & 0xff) == SQLITE_CORRUPT) return corrupt(path, db);
    return make_error(is_busy(rc) ? "db_locked" : "db_open",
                      "cannot read " + path + ": " + sqlite_message(db));
  }
  if (version > kResultsSchemaVersion) return schema_too_new(path, version);
  auto has_runs = has_tables(db, "runs");
  if (!has_runs) return has_runs.error();
  if (version == 0 || !*has_runs)
    return make_error("not_a_results_db", path + " is not a gatedrill results database");
  return std::unique_ptr<ResultsReader>(new ResultsReader(std::move(impl)));
}

Result<std::vector<RunRecord>> ResultsReader::runs() const {
  static const std::string sql = std::string(kRunColumns) + " ORDER BY started_ms DESC, id DESC";
  return impl_->query<RunRecord>(
      sql.c_str(), [](sqlite3_stmt*) {}, read_run);
}

Result<RunRecord> ResultsReader::run(int64_t run_id) const {
  static const std::string sql = std::string(kRunColumns) + " WHERE id = ?";
  auto rows = impl_->query<RunRecord>(
      sql.c_str(), [&](sqlite3_stmt* s) { Binder(s).i64(run_id); }, read_run);
  if (!rows) return rows.error();
  if (rows->empty())
    return make_error("no_such_run", "run " + std::to_string(run_id) + " is not in " + impl_->path);
  return std::move(rows->front());
}

Result<std::vector<PhaseRecord>> ResultsReader::phases(int64_t run_id) const {
  return impl_->query<PhaseRecord>(
      "SELECT run_id, phase_index, name, started_ms, ended_ms, target_rate FROM phases WHERE "
      "run_id = ? "
      "ORDER BY phase_index, rowid",
      [&](sqlite3_stmt* s) { Binder(s).i64(run_id); },
      [](Row& r) {
        PhaseRecord p;
        p.run_id = r.i64();
        p.index = static_cast<int>(r.i64());
        p.name = r.text();
        p.started_ms = r.i64();
        p.ended_ms = r.i64();
        p.target_rate = r.real();
        return p;
      });
}

Result<std::vector<SampleRecord>> ResultsReader::samples(int64_t run_id, const std::string& node,
                                                         int64_t from_second) const {
  return impl_->query<SampleRecord>(
      "SELECT run_id, node, second, phase, requests, errors, status_2xx, status_3xx, status_4xx, "
      "status_5xx, "
      "status_counts_json, connect_errors, timeouts, p50_us, p90_us, p99_us, p999_us, max_us, "
      "cpu_pct, rss_bytes "
      "FROM samples WHERE run_id = ?1 AND (?2 = '' OR node = ?2) AND second >= ?3 ORDER BY second, "
      "node, rowid",
      [&](sqlite3_stmt* s) { Binder(s).i64(run_id).text(node).i64(from_second); },
      [](Row& r) {
        SampleRecord s;
        s.run_id = r.i64();
        s.node = r.text();
        s.second = r.i64();
        s.phase = r.text();
        s.requests = r.i64();
        s.errors = r.i64();
        s.status_2xx = r.i64();
        s.status_3xx = r.i64();
        s.status_4xx = r.i64();
        s.status_5xx = r.i64();
        s.status_counts_json = r.text();
        s.connect_errors = r.i64();
        s.timeouts = r.i64();
        s.p50_us = r.real();
        s.p90_us = r.real();
        s.p99_us = r.real();
        s.p999_us = r.real();
        s.max_us = r.real();
        s.cpu_pct = r.real();
        s.rss_bytes = r.i64();
        return s;
      });
}

Result<std::vector<RunTotals>> ResultsReader::run_totals() const {
  return impl_->query<RunTotals>(
      "SELECT run_id, COUNT(*), SUM(requests) FROM samples WHERE node = 'all' GROUP BY run_id "
      "ORDER BY run_id",
      [](sqlite3_stmt*) {},
      [](Row& r) {
        RunTotals t;
        t.run_id = r.i64();
        t.seconds = r.i64();
        t.requests = r.i64();
        return t;
      });
}

Result<std::vector<HistogramRecord>> ResultsReader::histograms(int64_t run_id,
                                                               const std::string& node,
                                                               const std::string& kind) const {
  return impl_->query<HistogramRecord>(
      "SELECT run_id, node, second, kind, hdr FROM histograms WHERE run_id = ?1 AND (?2 = '' OR "
      "node = ?2) "
      "AND (?3 = '' OR kind = ?3) ORDER BY second, node, kind, rowid",
      [&](sqlite3_stmt* s) { Binder(s).i64(run_id).text(node).text(kind); },
      [](Row& r) {
        HistogramRecord h;
        h.run_id = r.i64();
        h.node = r.text();
        h.second = r.i64();
        h.kind = r.text();
        h.hdr = r.blob();
        return h;
      });
}

Result<std::vector<EventRecord>> ResultsReader::events(int64_t run_id) const {
  return impl_->query<EventRecord>(
      "SELECT run_id, start_ms, end_ms, node, kind, name, detail_json FROM events WHERE run_id = ? "
      "ORDER BY start_ms, id",
      [&](sqlite3_stmt* s) { Binder(s).i64(run_id); },
      [](Row& r) {
        EventRecord e;
        e.run_id = r.i64();
        e.start_ms = r.i64();
        e.end_ms = r.i64();
        e.node = r.text();
        e.kind = r.text();
        e.name = r.text();
        e.detail_json = r.text();
        return e;
      });
}

Result<std::vector<ThresholdRecord>> ResultsReader::thresholds(int64_t run_id) const {
  return impl_->query<ThresholdRecord>(
      "SELECT run_id, expression, observed, observed_text, pass, abort_on_fail FROM thresholds "
      "WHERE run_id = ? "
      "ORDER BY id",
      [&](sqlite3_stmt* s) { Binder(s).i64(run_id); },
      [](Row& r) {
        ThresholdRecord t;
        t.run_id = r.i64();
        t.expression = r.text();
        t.observed = r.real();
        t.observed_text = r.text();
        t.pass = r.i64() != 0;
        t.abort_on_fail = r.i64() != 0;
        return t;
      });
}

}  // namespace gatedrill
