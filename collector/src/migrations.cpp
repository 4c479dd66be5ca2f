// Applies the compiled-in schema migrations in order, in one transaction (migrations.hpp).
#include "tk/collector/migrations.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "tk/collector/database.hpp"

namespace tk::collector {

namespace {
// Any constant: serialises collectors that start at the same time against one database.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7355608001)";
}  // namespace

int apply_migrations(Connection& conn) {
    const auto& known = migrations();
    const int newest_known = known.empty() ? 0 : known.back().version;
    conn.exec("BEGIN");
    try {
        conn.exec(kMigrationLock);
        conn.exec(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
        const Result current = conn.exec("SELECT coalesce(max(version), 0) FROM schema_version");
        const int version = std::stoi(std::string(current.value(0, 0)));
        if (version > newest_known) {
            throw std::runtime_error("the database schema is at version " + std::to_string(version) +
                                     ", newer than this tk-collector knows (" + std::to_string(newest_known) +
                                     "); upgrade tk-collector");
        }
        for (const Migration& migration : known) {
            if (migration.version <= version) continue;
            spdlog::info("applying migration {:03}_{}", migration.version, migration.name);
            conn.exec(migration.sql);
            conn.exec("INSERT INTO schema_version (version, name) VALUES ($1, $2)",
                      {std::to_string(migration.version), migration.name});
        }
        conn.exec("COMMIT");
        return std::max(version, newest_known);
    } catch (...) {
        if (conn.healthy()) {
            try {
                conn.exec("ROLLBACK");
            } catch (...) {
            }
        }
        throw;
    }
}

}  // namespace tk::collector
