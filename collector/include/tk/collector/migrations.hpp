#pragma once
/// Schema migrations: collector/migrations/NNN_name.sql, compiled into the binary, applied in
/// order in one transaction and recorded in the `schema_version` table.

#include <string>
#include <vector>

namespace tk::collector {

class Connection;

struct Migration {
    int version;
    const char* name;
    const char* sql;
};

/// Every migration this binary knows, oldest first (generated from collector/migrations/).
const std::vector<Migration>& migrations();

/// Applies the missing migrations in one transaction (serialised against other collectors by an
/// advisory lock) and returns the resulting schema version. Throws std::runtime_error if the
/// database's schema is newer than the newest migration this binary knows.
int apply_migrations(Connection& conn);

}  // namespace tk::collector
