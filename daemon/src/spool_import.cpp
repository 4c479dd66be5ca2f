// The spool import (spool_import.hpp): takes <state dir>/spool by rename under its lock, feeds
// its records through the intake in slices between sessions, and deletes it once committed.
#include "tk/agent/spool_import.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <limits>

#include "tk/agent/session.hpp"
#include "tk/common/clock.hpp"
#include "tk/common/private_files.hpp"
#include "tk/common/spool_format.hpp"
#include "tk/common/unique_fd.hpp"

namespace tk::agent {
namespace v1 = telemetry_kit::v1;
namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

/// Records fed to the intake per I/O-thread turn: sessions are served between slices.
constexpr std::size_t kSliceRecords = 512;
/// Events per store batch.
constexpr std::size_t kBatchEvents = 4096;
/// Clients append many times during a burst: gather them into one import.
constexpr std::chrono::milliseconds kGather{50};
/// A writer holds the spool's lock for one write(): try again this soon.
constexpr std::chrono::milliseconds kLockedRetry{20};
/// After a failed commit, try again this much later (the file is kept meanwhile).
constexpr std::chrono::milliseconds kFailedRetry{10'000};
/// Writers stop at 16 MiB (plus one write each when racing); more than this is not a spool.
constexpr std::size_t kMaxImportBytes = 64u << 20;

/// A spool file's bytes, up to a limit.
struct FileBytes {
    std::string data;
    std::size_t cut = 0;  ///< bytes past the limit, left out
};

/// The whole file, up to `limit` bytes; or why it cannot be opened or read.
Result<FileBytes> read_private_file(const fs::path& file, std::size_t limit) {
    auto fd = open_private_file(file, O_RDONLY, 0);
    if (!fd) return fd.failure();
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return Error{"cannot stat " + file.string() + ": " + std::strerror(errno), errno};
    const auto size = static_cast<std::size_t>(st.st_size);
    FileBytes bytes;
    bytes.cut = size > limit ? size - limit : 0;
    bytes.data.resize(std::min(size, limit));
    std::size_t done = 0;
    while (done < bytes.data.size()) {
        const ssize_t n = ::read(fd->get(), bytes.data.data() + done, bytes.data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error{"cannot read " + file.string() + ": " + std::strerror(errno), errno};
        if (n == 0) break;  // shorter than fstat said: what is there is what there is
        done += static_cast<std::size_t>(n);
    }
    bytes.data.resize(done);
    return bytes;
}

}  // namespace

struct SpoolImporter::Run {
    std::string data;
    spool::Scan scan;
    std::size_t next = 0;                         ///< of scan.records
    std::map<std::string, ToolContext> contexts;  ///< by tool identity + signals
    std::map<std::string, IntakeBatch> batches;
    v1::SpoolRecord record;
    std::size_t kept = 0;
    std::size_t unreadable = 0;
};

SpoolImporter::SpoolImporter(asio::io_context& io, const Paths& paths, Intake& intake, EventStore& store)
    : io_(io), paths_(paths), intake_(intake), store_(store), timer_(io) {}

SpoolImporter::~SpoolImporter() { *alive_ = false; }

void SpoolImporter::watch() {
    watcher_ = SpoolWatcher::make(io_, paths_.state_dir, [this] { schedule(kGather); });
    schedule(std::chrono::milliseconds(0));  // anything spooled between import_now() and now
}

void SpoolImporter::stop() {
    stopped_ = true;
    watcher_.reset();
    timer_.cancel();
}

void SpoolImporter::fill_status(v1::SpoolStatus& status) const {
    status.set_imported_records(counters_.records);
    status.set_damaged_spans(counters_.damaged_spans);
    status.set_damaged_bytes(counters_.damaged_bytes);
    status.set_unreadable_records(counters_.unreadable_records);
    status.set_last_damage_unix_ms(counters_.last_damage_unix_ms);
}

// ---- taking and reading the file ----

SpoolImporter::Take SpoolImporter::take_spool() {
    std::error_code ec;
    // A crash (or a failed commit) during an earlier import left spool.importing: finish it
    // first. Re-importing is harmless: the store ignores ids it has.
    if (fs::exists(paths_.spool_importing(), ec)) return Take::taken;
    const auto opened = open_private_file(paths_.spool(), O_RDONLY, 0);
    if (!opened) {
        if (opened.failure().code == ENOENT) return Take::none;
        spdlog::error("spool: {}", opened.error());
        return Take::failed;
    }
    const UniqueFd& fd = *opened;  // closing it (when `opened` goes) drops the lock
    // The lock protocol (docs/protocol.md): writers append under flock and check afterwards that
    // the file is still the spool, so once we hold the lock no record can land in it after the
    // rename. Never wait for it here: the holder may be a stopped process.
    Take result = Take::taken;
    struct stat st {};
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        result = Take::busy;
    } else if (::fstat(fd.get(), &st) == 0 && st.st_size == 0) {
        result = Take::none;  // a writer has just created it; its close() will tell us again
    } else if (::rename(paths_.spool().c_str(), paths_.spool_importing().c_str()) != 0) {
        spdlog::error("spool: cannot rename {} for import: {}", paths_.spool().string(), std::strerror(errno));
        result = Take::failed;
    }
    return result;
}

bool SpoolImporter::load(Run& run) {
    auto bytes = read_private_file(paths_.spool_importing(), kMaxImportBytes);
    if (!bytes) {
        spdlog::error("spool: {}; the file is kept and tried again at the next change", bytes.error());
        return false;
    }
    run.data = std::move(bytes->data);
    const std::size_t cut = bytes->cut;
    run.scan = spool::scan(run.data);
    const auto& scan = run.scan;
    if (scan.damaged_spans > 0 || cut > 0) {
        counters_.damaged_spans += scan.damaged_spans + (cut > 0 ? 1 : 0);
        counters_.damaged_bytes += scan.damaged_bytes + cut;
        counters_.last_damage_unix_ms = now_unix_ms();
        spdlog::warn(
            "spool: {} torn or corrupt stretch(es), {} bytes, skipped{}; the {} intact records around "
            "them are imported",
            scan.damaged_spans + (cut > 0 ? 1 : 0), scan.damaged_bytes + cut,
            cut > 0 ? fmt::format(" ({} bytes past the {} MiB import limit)", cut, kMaxImportBytes >> 20) : "",
            scan.records.size());
    }
    if (scan.legacy) spdlog::info("spool: written by an earlier version (no checksums); imported as such");
    return true;
}

// ---- feeding the intake ----

bool SpoolImporter::feed(Run& run, std::size_t limit) {
    const std::size_t end = std::min(run.scan.records.size(), run.next + std::min(limit, run.scan.records.size()));
    for (; run.next < end; ++run.next) {
        const std::string_view payload = run.scan.records[run.next];
        if (!run.record.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
            ++run.unreadable;
            continue;
        }
        const std::string key = run.record.tool().SerializeAsString() + '\0' + run.record.signals().SerializeAsString();
        auto it = run.contexts.find(key);
        if (it == run.contexts.end()) {
            v1::Hello hello;
            hello.set_protocol_version(1);
            *hello.mutable_tool() = run.record.tool();
            *hello.mutable_signals() = run.record.signals();
            ToolContext context;
            if (!intake_.hello(hello, context)) {
                ++run.unreadable;
                continue;
            }
            it = run.contexts.emplace(key, std::move(context)).first;
        }
        IntakeBatch& batch = run.batches[key];
        if (batch.tool.empty()) {
            batch.tool = it->second.hello.tool().tool();
            batch.destination = it->second.destination;
        }
        if (intake_.accept(it->second, *run.record.mutable_event(), batch)) ++run.kept;
        if (batch.events.size() >= kBatchEvents) {
            store_.submit(std::move(batch));
            run.batches.erase(key);
        }
    }
    return run.next == run.scan.records.size();
}

namespace {

void submit_all(EventStore& store, std::map<std::string, IntakeBatch>& batches) {
    for (auto& [key, batch] : batches) store.submit(std::move(batch));
    batches.clear();
}

}  // namespace

bool SpoolImporter::begin_run() {
    run_ = std::make_unique<Run>();
    running_ = true;
    if (load(*run_)) return true;
    run_.reset();
    running_ = false;
    return false;
}

// ---- at start: all at once ----

void SpoolImporter::import_now() {
    // The spool, and once more in case a client wrote a new one meanwhile (the watcher, started
    // next, catches anything later).
    for (int round = 0; round < 3; ++round) {
        if (take_spool() != Take::taken) return;
        if (!begin_run()) return;
        feed(*run_, std::numeric_limits<std::size_t>::max());
        submit_all(store_, run_->batches);
        std::promise<bool> committed;
        store_.run([](EventStore::Tx&) {}, [&committed](bool ok) { committed.set_value(ok); });
        const bool ok = committed.get_future().get();
        finish(ok);
        if (!ok) return;
    }
}

// ---- while serving: in slices on the I/O thread ----

void SpoolImporter::schedule(std::chrono::milliseconds delay) {
    if (stopped_) return;
    if (running_) {
        again_ = true;  // the running import may have renamed the file before this change
        return;
    }
    if (scheduled_) return;
    scheduled_ = true;
    timer_.expires_after(delay);
    timer_.async_wait([this, alive = alive_](const boost::system::error_code& error) {
        if (!*alive || error) return;
        scheduled_ = false;
        start_run();
    });
}

void SpoolImporter::start_run() {
    if (stopped_) return;
    again_ = false;
    switch (take_spool()) {
        case Take::none:
        case Take::failed: return;  // failed: logged; the next change tries again
        case Take::busy: schedule(kLockedRetry); return;
        case Take::taken: break;
    }
    if (!begin_run()) return;
    asio::post(io_, [this, alive = alive_] {
        if (*alive) step();
    });
}

void SpoolImporter::step() {
    if (stopped_) return;
    auto resume_after_commit = [this](std::function<void(bool)> then) {
        store_.run([](EventStore::Tx&) {},
                   [this, alive = alive_, then](bool ok) {
                       // The store's writer thread: back to the I/O thread (the importer outlives neither).
                       asio::post(io_, [alive, then, ok] {
                           if (*alive) then(ok);
                       });
                   });
    };
    if (!feed(*run_, kSliceRecords)) {
        if (store_.backlog_events() > kBacklogHighWater) {
            // The writer is behind: go on once what is queued is committed (bounded memory).
            resume_after_commit([this](bool) { step(); });
        } else {
            asio::post(io_, [this, alive = alive_] {
                if (*alive) step();
            });
        }
        return;
    }
    submit_all(store_, run_->batches);
    resume_after_commit([this](bool ok) { finish(ok); });
}

void SpoolImporter::finish(bool committed) {
    Run& run = *run_;
    counters_.unreadable_records += run.unreadable;
    if (run.unreadable > 0) {
        counters_.last_damage_unix_ms = now_unix_ms();
        spdlog::warn("spool: {} of {} intact records were not usable spool records and were skipped", run.unreadable,
                     run.scan.records.size());
    }
    if (committed) {
        std::error_code ec;
        fs::remove(paths_.spool_importing(), ec);
        ++counters_.imports;
        counters_.records += run.scan.records.size();
        spdlog::info("imported {} spooled events ({} kept by policy)", run.scan.records.size(), run.kept);
    } else {
        spdlog::error("spool: the store could not commit the import; {} is kept and tried again",
                      paths_.spool_importing().string());
    }
    run_.reset();
    running_ = false;
    if (!committed) {
        schedule(kFailedRetry);
    } else if (again_) {
        schedule(kGather);
    }
}

}  // namespace tk::agent
