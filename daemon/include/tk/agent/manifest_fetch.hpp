#pragma once
/// ManifestFetcher: keeps each tool's manifest (docs/privacy.md, "Manifests") fetched from the
/// tool's destination, GET {endpoint}/v1/tools/{tool}/manifest (public: no key), cached in
/// SQLite (`manifests.db` in the state dir) so that it holds across restarts and while the
/// collector is down. Runs on its own thread.
///
/// Per tool, a small state machine:
///   unknown --want()--> fetching --200--> in force (checked now) --refresh period--> fetching
///                                 --304 (If-None-Match: its ETag)--> the cached one, checked now
///                                 --404--> none (or, if the cached one is `required`, kept in force)
///                                 --error--> kept as it was; retried with backoff (capped at the period)
/// A tool whose manifest was confirmed less than a refresh period ago is not fetched again
/// (also across restarts: the check time is stored), so agents ask every few hours at most.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "telemetry_kit/v1/manifest.pb.h"

namespace tk::agent {

struct ManifestOptions {
    /// How long a fetched manifest is used before it is asked for again.
    std::chrono::seconds refresh{std::chrono::hours(3)};
    /// First retry after a failed fetch; doubles (with jitter) up to `refresh`.
    std::chrono::milliseconds initial_backoff{std::chrono::seconds(5)};
    std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
    std::string ca_file;  ///< as the forwarder's
};

/// What the agent knows of one tool's manifest.
struct ManifestState {
    std::string tool;
    std::string endpoint;
    std::shared_ptr<const telemetry_kit::v1::Manifest> manifest;  ///< null: none in force
    std::int64_t checked_unix_ms = 0;                             ///< last answer from the collector (0: never)
    std::string error;                                            ///< why the last fetch failed ("" = it worked)
    std::string etag;  ///< the collector's ETag of `manifest`: sent as If-None-Match, so 304 keeps it
};

class ManifestFetcher {
public:
    /// Called on the fetcher's thread when a tool's manifest in force changes (null: none).
    using OnChange = std::function<void(const std::string& tool, std::shared_ptr<const telemetry_kit::v1::Manifest>)>;

    /// Opens (creating) the cache. Throws std::runtime_error if it cannot.
    ManifestFetcher(const std::filesystem::path& cache_file, ManifestOptions options, OnChange on_change);
    ~ManifestFetcher();  ///< stops
    ManifestFetcher(const ManifestFetcher&) = delete;
    ManifestFetcher& operator=(const ManifestFetcher&) = delete;

    /// Also called on the fetcher's thread after every answer of the collector (200 or 404), with the
    /// manifest in force after it (null: none), changed or not. Set before start().
    void on_answer(OnChange callback);

    /// The cached manifests, as loaded at construction (to put in force before serving).
    std::vector<ManifestState> cached() const;

    void start();
    void stop();  ///< idempotent

    /// The tool sends to `endpoint` (its latest Hello): keep its manifest from there. Thread-safe, cheap.
    void want(const std::string& tool, const std::string& endpoint);

    /// What is known of the tool's manifest. Thread-safe.
    std::optional<ManifestState> state(const std::string& tool) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tk::agent
