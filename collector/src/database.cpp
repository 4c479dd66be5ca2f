// PostgreSQL through libpq (database.hpp): connections, results, errors with their SQLSTATE, and a
// pool that reconnects after the database went away and bounds every wait for a connection.
#include "tk/collector/database.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tk::collector {

namespace {
std::string trimmed(const char* message) {
    std::string text = message ? message : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}
}  // namespace

long long Result::affected() const {
    const char* tuples = PQcmdTuples(result_.get());
    return (tuples && *tuples) ? std::stoll(tuples) : 0;
}

std::vector<std::pair<std::string, std::string>> connection_parameters(const std::string& url,
                                                                       const ConnectionSettings& settings) {
    std::vector<std::pair<std::string, std::string>> params = {
        {"connect_timeout", "5"},
        {"application_name", "tk-collector"},
        {"keepalives", "1"},
        {"keepalives_idle", std::to_string(settings.keepalives_idle_s)},
        {"keepalives_interval", std::to_string(settings.keepalives_interval_s)},
        {"keepalives_count", std::to_string(settings.keepalives_count)},
        {"options", fmt::format("-c statement_timeout={} -c lock_timeout={}", settings.statement_timeout_ms,
                                settings.lock_timeout_ms)},
        {"dbname", url},  // expanded: the URL's own settings replace the ones above
        {"client_encoding", "UTF8"},
    };
    if (!settings.password.empty()) params.emplace_back("password", settings.password);
    return params;
}

Connection::Connection(const std::string& url, const ConnectionSettings& settings) {
    const auto params = connection_parameters(url, settings);
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [key, value] : params) {
        keys.push_back(key.c_str());
        values.push_back(value.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
    if (conn_ == nullptr) throw DatabaseError("out of memory connecting to PostgreSQL", true);
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string message = trimmed(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        throw DatabaseError("cannot connect to PostgreSQL: " + message, true);
    }
    // Server notices ("terminating connection ...") go to the log, not to a bare stderr.
    PQsetNoticeProcessor(
        conn_, [](void*, const char* message) { spdlog::debug("PostgreSQL: {}", trimmed(message)); }, nullptr);
}

Connection::~Connection() {
    if (conn_) PQfinish(conn_);
}

void Connection::fail(const std::string& what, PGresult* result) {
    std::string sqlstate;
    std::string message;
    if (result) {
        if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) sqlstate = state;
        message = trimmed(PQresultErrorMessage(result));
        PQclear(result);
    }
    if (message.empty()) message = trimmed(PQerrorMessage(conn_));
    // Outages: a broken connection, an error libpq made itself (no SQLSTATE: the socket closed),
    // or the server shutting down / starting up (classes 08 and 57P).
    const bool lost = PQstatus(conn_) != CONNECTION_OK || sqlstate.empty() || sqlstate.rfind("08", 0) == 0 ||
                      sqlstate.rfind("57P", 0) == 0;
    throw DatabaseError(fmt::format("{}: {}", what, message), lost, sqlstate);
}

Result Connection::exec(const std::string& sql, const std::vector<std::string>& params) {
    return exec_params(sql, params, {});
}

Result Connection::exec_prepared(const std::string& name, const std::string& sql,
                                 const std::vector<std::string>& params) {
    if (!prepared_.count(name)) {
        PGresult* made = PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr);
        if (!made || PQresultStatus(made) != PGRES_COMMAND_OK) fail("prepare failed", made);
        PQclear(made);
        prepared_.insert(name);
    }
    std::vector<const char*> values(params.size());
    std::vector<int> lengths(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
        values[i] = params[i].data();
        lengths[i] = static_cast<int>(params[i].size());
    }
    PGresult* result =
        PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()), values.data(), lengths.data(), nullptr, 0);
    const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("query failed", result);
    return Result(result);
}

Result Connection::exec_params(const std::string& sql, const std::vector<std::string>& params,
                               const std::vector<bool>& binary) {
    PGresult* result = nullptr;
    if (params.empty()) {
        result = PQexec(conn_, sql.c_str());
    } else {
        std::vector<const char*> values(params.size());
        std::vector<int> lengths(params.size());
        std::vector<int> formats(params.size());
        for (std::size_t i = 0; i < params.size(); ++i) {
            values[i] = params[i].data();
            lengths[i] = static_cast<int>(params[i].size());
            formats[i] = i < binary.size() && binary[i] ? 1 : 0;
        }
        result = PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                              lengths.data(), formats.data(), 0);
    }
    const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("query failed", result);
    return Result(result);
}

void Connection::copy_begin(const std::string& copy_sql) {
    PGresult* start = PQexec(conn_, copy_sql.c_str());
    if (start == nullptr || PQresultStatus(start) != PGRES_COPY_IN) fail("COPY failed", start);
    PQclear(start);
}

void Connection::copy_put(std::string_view data) {
    if (!data.empty() && PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1)
        fail("COPY failed", nullptr);
}

void Connection::finish_copy() {
    PGresult* end = PQgetResult(conn_);
    const bool ok = end != nullptr && PQresultStatus(end) == PGRES_COMMAND_OK;
    if (!ok) {
        while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
        fail("COPY failed", end);
    }
    PQclear(end);
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
}

void Connection::copy_end() {
    if (PQputCopyEnd(conn_, nullptr) != 1) fail("COPY failed", nullptr);
    finish_copy();
}

void Connection::copy_out_begin(const std::string& copy_sql) {
    PGresult* start = PQexec(conn_, copy_sql.c_str());
    if (start == nullptr || PQresultStatus(start) != PGRES_COPY_OUT) fail("COPY failed", start);
    PQclear(start);
}

bool Connection::copy_get(std::string& row) {
    char* buffer = nullptr;
    const int length = PQgetCopyData(conn_, &buffer, /*async=*/0);
    if (length > 0) {
        row.assign(buffer, static_cast<std::size_t>(length));
        PQfreemem(buffer);
        return true;
    }
    if (length == -2) fail("COPY failed", nullptr);
    finish_copy();  // -1: the COPY ended; did it succeed?
    return false;
}

void Connection::abandon() {
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
}

void Connection::copy_in(const std::string& copy_sql, const std::string& data) {
    copy_begin(copy_sql);
    copy_put(data);
    copy_end();
}

ConnectionPool::ConnectionPool(std::string url, std::size_t max_connections, ConnectionSettings settings)
    : url_(std::move(url)), settings_(std::move(settings)), max_(max_connections == 0 ? 1 : max_connections) {}

ConnectionPool::~ConnectionPool() { close(); }

ConnectionPool::Lease::~Lease() {
    if (conn_) pool_->give_back(std::move(conn_));
}

ConnectionPool::Lease ConnectionPool::acquire(bool fresh, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (closed_) throw DatabaseError("the connection pool is closed", true);
        if (!idle_.empty()) {
            auto conn = std::move(idle_.back());
            idle_.pop_back();
            if (!fresh && conn->healthy()) return Lease(*this, std::move(conn));
            --open_;  // drop it: stale, or the caller wants a new one
            continue;
        }
        if (open_ < max_) break;
        if (deadline == std::chrono::steady_clock::time_point::max()) {
            available_.wait(lock);
        } else if (available_.wait_until(lock, deadline) == std::cv_status::timeout) {
            throw DatabaseError("no database connection free in time", false, "timeout");
        }
    }
    ++open_;
    lock.unlock();
    try {
        return Lease(*this, std::make_unique<Connection>(url_, settings_));
    } catch (...) {
        lock.lock();
        --open_;
        available_.notify_one();
        throw;
    }
}

void ConnectionPool::give_back(std::unique_ptr<Connection> conn) {
    {
        std::lock_guard lock(mutex_);
        if (closed_ || !conn->healthy()) {
            --open_;
            conn.reset();
        } else {
            idle_.push_back(std::move(conn));
        }
    }
    available_.notify_one();
}

void ConnectionPool::close() {
    std::vector<std::unique_ptr<Connection>> closing;
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
        open_ -= idle_.size();
        closing.swap(idle_);
    }
    available_.notify_all();
}

}  // namespace tk::collector
