// GET /v1/export (docs/query.md#export): parameters and the token's shape checked on the I/O
// thread, then on an export worker the token (one indexed lookup on the read database) and only
// then the COPY, streamed to the client through the session's BodyStream.
#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "app.hpp"
#include "tk/collector/export.hpp"
#include "tk/collector/tokens.hpp"

namespace tk::collector::detail {

namespace {

using Clock = std::chrono::steady_clock;

/// An export's place (App::exports), given back before the client can see the export end (so
/// that its next export finds the place free), or at the latest when the job ends.
class ExportSlot {
public:
    explicit ExportSlot(App& app) : app_(app) {}
    ~ExportSlot() { release(); }
    ExportSlot(const ExportSlot&) = delete;
    ExportSlot& operator=(const ExportSlot&) = delete;
    void release() {
        if (!released_.exchange(true)) --app_.exports;
    }

private:
    App& app_;
    std::atomic<bool> released_{false};
};

http::response_header<> export_head(unsigned version, const ExportParams& params) {
    http::response_header<> head;
    head.version(version);
    head.result(http::status::ok);
    const bool csv = params.format == ExportFormat::csv;
    head.set(http::field::content_type, csv ? "text/csv; charset=utf-8; header=present" : "application/x-ndjson");
    head.set(http::field::cache_control, "no-store");
    head.set(http::field::content_disposition,
             fmt::format("attachment; filename=\"{}-{}-{}.{}\"", params.tool, params.from.substr(0, 10),
                         params.to.substr(0, 10), csv ? "csv" : "ndjson"));
    // The range actually exported, defaults resolved (UTC; from inclusive, to exclusive).
    head.set("X-Export-From", params.from + "Z");
    head.set("X-Export-To", params.to + "Z");
    return head;
}

Response refusal(unsigned version, http::status status, const std::string& text) {
    auto response = text_response(version, status, text + "\n");
    if (status == http::status::unauthorized) response.set(http::field::www_authenticate, "Bearer");
    return response;
}

/// On an export worker: the token, then the stream. Once the stream has begun, a failure can only
/// cut it off (the status was sent); before that it is answered like any other request.
void run_export_job(App& app, unsigned version, const ExportParams& params, const std::string& authorization,
                    const Respond& respond, BodyStream& stream, ExportSlot& slot) {
    bool begun = false;
    std::string cut;  // why a begun stream was cut off by the database
    const auto outcome = with_connection(
        app.read_pool,
        [&](Connection& conn) -> std::optional<ExportOutcome> {
            const ReadAuth auth = authorize_read(conn, authorization, params.tool);
            if (auth.status != 200) {
                slot.release();
                respond(refusal(version, static_cast<http::status>(auth.status), auth.message));
                return std::nullopt;
            }
            const auto sink = [&](std::string_view piece) {
                if (!begun) {
                    begun = true;
                    if (!stream.begin(export_head(version, params))) return false;
                    app.metrics.count_request("export", 200);
                }
                return stream.write(std::string(piece));
            };
            const int timeout_ms = static_cast<int>(std::chrono::milliseconds(app.config.export_timeout).count());
            try {
                return run_export(conn, params, sink, timeout_ms);
            } catch (const DatabaseError& error) {
                if (!begun) throw;  // answered 503/500 by the caller; retried once on a lost connection
                cut = error.what();
                return ExportOutcome{};
            }
        },
        Clock::now() + app.config.request_timeout);
    if (!outcome) return;
    if (!begun && outcome->complete) {  // nothing at all to send (NDJSON without rows): the head alone
        begun = stream.begin(export_head(version, params));
        if (begun) app.metrics.count_request("export", 200);
    }
    slot.release();
    stream.end(outcome->complete);
    if (!cut.empty()) {
        app.metrics.count_db_error();
        spdlog::warn("export of {} cut off by the database after {} rows: {}", params.tool, outcome->rows, cut);
    } else if (!outcome->complete) {
        spdlog::info("export of {} stopped after {} rows: the client went away or read too slowly", params.tool,
                     outcome->rows);
    } else {
        spdlog::info("exported {} rows of {} ({} to {})", outcome->rows, params.tool, params.from, params.to);
    }
}

}  // namespace

void get_export(App& app, const Request& request, Respond respond, const OpenStream& open_stream) {
    const unsigned version = request.version();
    const std::string_view target(request.target().data(), request.target().size());
    const auto question = target.find('?');
    auto parsed = parse_export(question == std::string_view::npos ? std::string_view() : target.substr(question + 1));
    if (!parsed) return respond(refusal(version, http::status::bad_request, parsed.error()));
    ExportParams params = std::move(parsed).value();
    if (auto range = resolve_export_range(params, std::chrono::system_clock::now()); !range) {
        return respond(refusal(version, http::status::bad_request, range.error()));
    }
    const std::string authorization(request[http::field::authorization]);
    if (!bearer_token(authorization)) {
        return respond(
            refusal(version, http::status::unauthorized, "a read token is required (Authorization: Bearer tkr_...)"));
    }
    // Each export holds a thread and a database connection for as long as its client reads.
    if (app.exports.fetch_add(1) >= app.config.max_exports) {
        --app.exports;
        auto response = refusal(version, http::status::service_unavailable, "too many exports at once, retry later");
        response.set(http::field::retry_after, "5");
        return respond(std::move(response));
    }
    auto stream = open_stream();
    boost::asio::post(app.export_workers, [&app, version, params = std::move(params), authorization,
                                           respond = std::move(respond), stream = std::move(stream)] {
        ExportSlot slot(app);
        try {
            run_export_job(app, version, params, authorization, respond, *stream, slot);
        } catch (const DatabaseError& error) {
            slot.release();
            app.metrics.count_db_error();
            spdlog::warn("database: {}", error.what());
            auto response = refusal(
                version, error.transient() ? http::status::service_unavailable : http::status::internal_server_error,
                error.transient() ? "database unavailable or slow" : "database error");
            if (error.transient())
                response.set(http::field::retry_after, std::to_string(app.config.unavailable_retry_after));
            respond(std::move(response));
        } catch (const std::exception& error) {
            slot.release();
            spdlog::error("export failed: {}", error.what());
            respond(refusal(version, http::status::internal_server_error, "internal error"));
        }
    });
}

}  // namespace tk::collector::detail
