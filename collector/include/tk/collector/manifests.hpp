#pragma once
/// Tool manifests in PostgreSQL (migration 007): every version kept, the newest in force.
/// docs/privacy.md, "Manifests"; the file format is proto/telemetry_kit/v1/manifest.proto's JSON.

#include <optional>
#include <string>
#include <vector>

namespace tk::collector {

class Connection;

struct StoredManifest {
    int version = 0;
    std::string json;        ///< as served: version and change date filled in
    std::string changed_at;  ///< RFC 3339, UTC
};

/// Checks `json` (the author's file) and stores it as `tool`'s next version, dated now. The file's
/// "tool" must be `tool`; a "version" in it must be above the current one. Returns what was
/// stored, or nullopt if it equals the current version (nothing stored). Throws
/// std::invalid_argument with the place and the problem for a bad file; DatabaseError.
std::optional<StoredManifest> set_manifest(Connection& conn, const std::string& tool, const std::string& json);

/// The version in force, if any.
std::optional<StoredManifest> current_manifest(Connection& conn, const std::string& tool);

/// Every version, newest first, at most `limit`.
std::vector<StoredManifest> manifest_history(Connection& conn, const std::string& tool, int limit = 100);

/// GET .../manifest/history's body: {"tool": ..., "versions": [manifest, ...]} (newest first).
std::string history_json(const std::string& tool, const std::vector<StoredManifest>& versions);

}  // namespace tk::collector
