#include "tk/agent/manifest_fetch.hpp"

#include <pthread.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "sqlite.hpp"
#include "tk/agent/backoff.hpp"
#include "tk/agent/http_client.hpp"
#include "tk/common/clock.hpp"
#include "tk/common/manifest.hpp"

namespace tk::agent {
namespace asio = boost::asio;
namespace v1 = telemetry_kit::v1;
using std::chrono::milliseconds;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS manifests(
  tool TEXT PRIMARY KEY, endpoint TEXT NOT NULL, manifest TEXT NOT NULL, checked_ms INTEGER NOT NULL);
)sql";

}  // namespace

struct ManifestFetcher::Impl {
    struct Tool {
        explicit Tool(asio::io_context& io) : timer(io) {}
        ManifestState state;
        asio::steady_timer timer;
        std::shared_ptr<http::Client> client;
        unsigned failures = 0;
        bool fetching = false;
    };

    Impl(const std::filesystem::path& file, ManifestOptions options_in, OnChange on_change_in)
        : db(file),
          options(std::move(options_in)),
          on_change(std::move(on_change_in)),
          work(asio::make_work_guard(io)),
          tls(asio::ssl::context::tls_client),
          rng(std::random_device{}()) {
        db.exec("PRAGMA journal_mode=WAL");
        db.exec(kSchema);
        add_etag_column();
        SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
        boost::system::error_code ec;
        tls.set_default_verify_paths(ec);
        if (!options.ca_file.empty()) tls.load_verify_file(options.ca_file, ec);
        load();
    }

    /// Caches written before the ETag was kept lack its column.
    void add_etag_column() {
        detail::Statement columns(db, "SELECT count(*) FROM pragma_table_info('manifests') WHERE name = 'etag'");
        if (columns.step() && columns.integer(0) == 0)
            db.exec("ALTER TABLE manifests ADD COLUMN etag TEXT NOT NULL DEFAULT ''");
    }

    void load() {
        detail::Statement select(db, "SELECT tool, endpoint, manifest, checked_ms, etag FROM manifests");
        while (select.step()) {
            auto parsed = manifest::parse(select.text(2));
            if (!parsed) {
                spdlog::warn("manifest cache: ignoring {}'s cached manifest: {}", select.text(0), parsed.error());
                continue;
            }
            auto tool = std::make_unique<Tool>(io);
            tool->state.tool = select.text(0);
            tool->state.endpoint = select.text(1);
            tool->state.manifest = std::make_shared<const v1::Manifest>(std::move(*parsed));
            tool->state.checked_unix_ms = select.integer(3);
            tool->state.etag = select.text(4);
            tools.emplace(tool->state.tool, std::move(tool));
        }
    }

    // ---- fetcher thread only ----

    void want(const std::string& name, const std::string& endpoint) {
        std::unique_lock lock(mutex);  // state() reads the map from other threads
        auto& slot = tools[name];
        if (!slot) {
            slot = std::make_unique<Tool>(io);
            slot->state.tool = name;
        }
        Tool& tool = *slot;
        if (tool.fetching) return;
        if (tool.state.endpoint != endpoint) {
            // A new destination: what the old one published is not this one's word until it says so.
            tool.state.endpoint = endpoint;
            tool.state.checked_unix_ms = 0;
            tool.state.etag.clear();
            tool.failures = 0;
        }
        lock.unlock();
        if (tool.failures > 0) return;  // a retry is scheduled
        const auto due = tool.state.checked_unix_ms + std::chrono::duration_cast<milliseconds>(options.refresh).count();
        schedule(tool, milliseconds(std::max<std::int64_t>(0, due - now_unix_ms())));
    }

    void schedule(Tool& tool, milliseconds delay) {
        tool.timer.expires_after(delay);
        tool.timer.async_wait([this, &tool](boost::system::error_code ec) {
            if (!ec && !stopping) fetch(tool);
        });
    }

    void fetch(Tool& tool) {
        auto url = http::parse_url(tool.state.endpoint);
        if (!url) return failed(tool, url.error());
        tool.fetching = true;
        tool.client = std::make_shared<http::Client>(io, tls, *url, options.request_timeout);
        const std::string target = url->target("/v1/tools/" + http::encode_path_segment(tool.state.tool) + "/manifest");
        // Conditional: an unchanged manifest costs the collector a 304 and no body.
        const std::string if_none_match = tool.state.manifest ? tool.state.etag : std::string();
        tool.client->request(
            boost::beast::http::verb::get, target, "", "", "",
            [this, &tool](http::Response response) {
                tool.fetching = false;
                // Closed after this handler returns: a manifest is asked for every few hours, not kept-alive for.
                if (auto client = std::move(tool.client)) asio::post(io, [client] { client->close(); });
                if (response.aborted || stopping) return;
                answered(tool, response);
            },
            if_none_match);
    }

    void answered(Tool& tool, const http::Response& response) {
        if (!response.error.empty()) return failed(tool, response.error);
        if (response.status == 404) return none(tool);
        if (response.status == 304 && tool.state.manifest) return succeeded(tool, tool.state.manifest, tool.state.etag);
        if (response.status != 200) return failed(tool, "HTTP " + std::to_string(response.status));
        auto parsed = manifest::parse(response.body);
        if (!parsed) return failed(tool, "the collector's manifest is not valid: " + parsed.error());
        if (parsed->tool() != tool.state.tool)
            return failed(tool, "the collector answered with " + parsed->tool() + "'s manifest");
        auto fresh = std::make_shared<const v1::Manifest>(std::move(*parsed));
        const bool changed =
            !tool.state.manifest || tool.state.manifest->SerializeAsString() != fresh->SerializeAsString();
        succeeded(tool, changed ? fresh : tool.state.manifest, response.etag);
        if (changed) {
            spdlog::info("manifest: {} version {} from {} is in force", tool.state.tool, fresh->version(),
                         tool.state.endpoint);
            on_change(tool.state.tool, fresh);
        }
    }

    /// The collector has no manifest for the tool: today's rules, unless the cached one is required.
    void none(Tool& tool) {
        if (tool.state.manifest && tool.state.manifest->required()) {
            spdlog::warn("manifest: {} publishes none any more, but its version {} said it is required: kept in force",
                         tool.state.tool, tool.state.manifest->version());
            return succeeded(tool, tool.state.manifest, {});  // no ETag: asked in full next time
        }
        const bool had = tool.state.manifest != nullptr;
        succeeded(tool, nullptr, {});
        if (had) {
            spdlog::info("manifest: {} publishes none any more", tool.state.tool);
            on_change(tool.state.tool, nullptr);
        }
    }

    void succeeded(Tool& tool, std::shared_ptr<const v1::Manifest> manifest, std::string etag) {
        {
            std::lock_guard lock(mutex);
            tool.state.manifest = std::move(manifest);
            tool.state.etag = std::move(etag);
            tool.state.checked_unix_ms = now_unix_ms();
            tool.state.error.clear();
        }
        tool.failures = 0;
        save(tool.state);
        schedule(tool, options.refresh);
        if (on_answer) on_answer(tool.state.tool, tool.state.manifest);
    }

    void failed(Tool& tool, const std::string& error) {
        {
            std::lock_guard lock(mutex);
            tool.state.error = error;
        }
        ++tool.failures;
        const auto cap = std::chrono::duration_cast<milliseconds>(options.refresh);
        const auto delay = backoff::next_delay(tool.failures, std::nullopt, options.initial_backoff,
                                               std::max(cap, options.initial_backoff), rng);
        spdlog::warn("manifest: cannot fetch {}'s from {}: {}; {} in {} ms", tool.state.tool, tool.state.endpoint,
                     error, tool.state.manifest ? "the cached one stays in force; again" : "again", delay.count());
        schedule(tool, delay);
    }

    void save(const ManifestState& state) {
        try {
            if (!state.manifest) {
                detail::Statement remove(db, "DELETE FROM manifests WHERE tool = ?");
                remove.bind_text(1, state.tool).run();
                return;
            }
            const std::string json = manifest::to_json(*state.manifest);
            detail::Statement upsert(
                db, "INSERT OR REPLACE INTO manifests(tool, endpoint, manifest, checked_ms, etag) VALUES(?,?,?,?,?)");
            upsert.bind_text(1, state.tool)
                .bind_text(2, state.endpoint)
                .bind_text(3, json)
                .bind(4, state.checked_unix_ms)
                .bind_text(5, state.etag);
            upsert.run();
        } catch (const std::exception& e) {
            spdlog::error("manifest cache: {}", e.what());  // in force in memory all the same
        }
    }

    detail::Database db;  // construction, then the fetcher thread only
    ManifestOptions options;
    OnChange on_change;
    OnChange on_answer;  // set before start()
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work;
    asio::ssl::context tls;
    std::mt19937_64 rng;
    std::map<std::string, std::unique_ptr<Tool>> tools;  // changed on the fetcher thread under `mutex`
    mutable std::mutex mutex;
    bool stopping = false;
    std::thread thread;
};

ManifestFetcher::ManifestFetcher(const std::filesystem::path& cache_file, ManifestOptions options, OnChange on_change)
    : impl_(std::make_unique<Impl>(cache_file, std::move(options), std::move(on_change))) {}

ManifestFetcher::~ManifestFetcher() { stop(); }

std::vector<ManifestState> ManifestFetcher::cached() const {
    std::lock_guard lock(impl_->mutex);
    std::vector<ManifestState> states;
    for (const auto& [name, tool] : impl_->tools) states.push_back(tool->state);
    return states;
}

void ManifestFetcher::on_answer(OnChange callback) { impl_->on_answer = std::move(callback); }

void ManifestFetcher::start() {
    if (impl_->thread.joinable()) return;
    impl_->thread = std::thread([impl = impl_.get()] {
        pthread_setname_np(pthread_self(), "tk-manifest");
        impl->io.run();
    });
}

void ManifestFetcher::stop() {
    if (!impl_->thread.joinable()) return;
    asio::post(impl_->io, [impl = impl_.get()] {
        impl->stopping = true;
        for (auto& [name, tool] : impl->tools) {
            tool->timer.cancel();
            if (tool->client) tool->client->close();
        }
        impl->work.reset();
    });
    impl_->thread.join();
}

void ManifestFetcher::want(const std::string& tool, const std::string& endpoint) {
    asio::post(impl_->io, [impl = impl_.get(), tool, endpoint] {
        if (!impl->stopping) impl->want(tool, endpoint);
    });
}

std::optional<ManifestState> ManifestFetcher::state(const std::string& tool) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->tools.find(tool);
    if (it == impl_->tools.end()) return std::nullopt;
    return it->second->state;
}

}  // namespace tk::agent
