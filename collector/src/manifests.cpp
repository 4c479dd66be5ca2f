#include "tk/collector/manifests.hpp"

#include <stdexcept>

#include "telemetry_kit/v1/manifest.pb.h"
#include "tk/collector/database.hpp"
#include "tk/common/json.hpp"
#include "tk/common/manifest.hpp"

namespace tk::collector {
namespace v1 = telemetry_kit::v1;

namespace {

constexpr const char* kUtc = "to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

std::vector<StoredManifest> select_manifests(Connection& conn, const std::string& tool, int limit) {
    const auto result = conn.exec(std::string("SELECT version, manifest, ") + kUtc +
                                      " FROM tool_manifests WHERE tool = $1 ORDER BY version DESC LIMIT $2",
                                  {tool, std::to_string(limit)});
    std::vector<StoredManifest> rows;
    for (int row = 0; row < result.rows(); ++row) {
        rows.push_back({std::stoi(std::string(result.value(row, 0))), std::string(result.value(row, 1)),
                        std::string(result.value(row, 2))});
    }
    return rows;
}

}  // namespace

std::optional<StoredManifest> set_manifest(Connection& conn, const std::string& tool, const std::string& json) {
    auto parsed = manifest::parse(json);
    if (!parsed) throw std::invalid_argument(parsed.error());
    v1::Manifest& next = *parsed;
    if (next.tool() != tool) {
        throw std::invalid_argument("tool: the file is " + next.tool() + "'s manifest, not " + tool + "'s");
    }
    conn.exec("BEGIN");
    try {
        // One writer per tool at a time: the next version number is read and used in one go.
        conn.exec("SELECT pg_advisory_xact_lock(hashtext('tk_manifest:' || $1))", {tool});
        const auto current = select_manifests(conn, tool, 1);
        const int current_version = current.empty() ? 0 : current.front().version;
        if (next.version() != 0 && static_cast<int>(next.version()) <= current_version) {
            throw std::invalid_argument("version: " + std::to_string(next.version()) + " is not above the current " +
                                        std::to_string(current_version) + " (leave it out to take the next number)");
        }
        if (!current.empty() && next.version() == 0) {
            auto same = manifest::parse(current.front().json);
            if (same) {
                next.set_version(same->version());
                next.set_changed(same->changed());
                if (same->SerializeAsString() == next.SerializeAsString()) {
                    conn.exec("ROLLBACK");
                    return std::nullopt;
                }
            }
            next.set_version(0);
        }
        if (next.version() == 0) next.set_version(static_cast<std::uint32_t>(current_version + 1));
        const auto now = conn.exec("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
        next.set_changed(std::string(now.value(0, 0)));
        StoredManifest stored{static_cast<int>(next.version()), manifest::to_json(next), next.changed()};
        conn.exec("INSERT INTO tool_manifests (tool, version, manifest, changed_at) VALUES ($1, $2, $3, now())",
                  {tool, std::to_string(stored.version), stored.json});
        conn.exec("COMMIT");
        return stored;
    } catch (...) {
        try {
            conn.exec("ROLLBACK");
        } catch (...) {
        }
        throw;
    }
}

std::optional<StoredManifest> current_manifest(Connection& conn, const std::string& tool) {
    auto rows = select_manifests(conn, tool, 1);
    if (rows.empty()) return std::nullopt;
    return std::move(rows.front());
}

std::vector<StoredManifest> manifest_history(Connection& conn, const std::string& tool, int limit) {
    return select_manifests(conn, tool, limit);
}

std::string history_json(const std::string& tool, const std::vector<StoredManifest>& versions) {
    std::string out = "{\"tool\": ";
    json::append_string(out, tool);
    out += ", \"versions\": [";
    for (std::size_t i = 0; i < versions.size(); ++i) {
        out += i == 0 ? "\n" : ",\n";
        out += versions[i].json;  // stored as checked JSON
    }
    out += "]}\n";
    return out;
}

}  // namespace tk::collector
