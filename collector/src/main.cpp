// tk-collector: the command line. Everything it runs lives in tk::collector_core.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "tk/collector/database.hpp"
#include "tk/collector/keys.hpp"
#include "tk/collector/migrations.hpp"
#include "tk/collector/server.hpp"
#include "tk/collector/version.hpp"
#include "export_cli.hpp"
#include "manifest_cli.hpp"
#include "tokens_cli.hpp"
#include "tools_cli.hpp"

namespace {

using namespace tk::collector;

/// "HOST:PORT" or "[V6]:PORT" into the config; throws CLI::ValidationError.
void parse_listen(const std::string& listen, ServerConfig& config) {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon + 1 == listen.size()) {
        throw CLI::ValidationError("--listen", "expected HOST:PORT, got " + listen);
    }
    std::string host = listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int port = 0;
    try {
        port = std::stoi(listen.substr(colon + 1));
    } catch (const std::exception&) {
        port = -1;
    }
    if (port < 0 || port > 65535) throw CLI::ValidationError("--listen", "bad port in " + listen);
    config.host = host.empty() ? "0.0.0.0" : host;
    config.port = static_cast<unsigned short>(port);
}

void setup_logging(const std::string& level) {
    auto logger = spdlog::stderr_logger_mt("tk-collector");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    spdlog::set_level(spdlog::level::from_str(level));
}

/// The first line of a password file (without its line end). Throws std::runtime_error.
std::string read_password_file(const std::string& path) {
    std::ifstream file(path);
    std::string password;
    if (!file || !std::getline(file, password))
        throw std::runtime_error("cannot read --database-password-file " + path);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    return password;
}

/// Connects and brings the schema up to date; the connection stays usable. No statement or
/// lock timeout here: migrations and the admin commands may take their time.
std::unique_ptr<Connection> connect_and_migrate(const std::string& url, const std::string& password) {
    ConnectionSettings settings;
    settings.statement_timeout_ms = 0;
    settings.lock_timeout_ms = 0;
    settings.password = password;
    auto conn = std::make_unique<Connection>(url, settings);
    const int version = apply_migrations(*conn);
    spdlog::debug("schema version {}", version);
    return conn;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tk-collector: receives telemetry-kit event batches over HTTP(S) and stores them in PostgreSQL"};
    app.set_version_flag("--version", std::string(tk::collector::version()));
    app.require_subcommand(1);

    std::string database_url;
    std::string password_file;
    std::string log_level = "info";
    auto add_common = [&](CLI::App* command) {
        command
            ->add_option(
                "--database-url", database_url,
                "PostgreSQL connection URL (libpq syntax; leave the password out: see --database-password-file)")
            ->envname("TK_DATABASE_URL")
            ->required();
        command
            ->add_option("--database-password-file", password_file,
                         "file whose first line is the database password (else libpq's PGPASSWORD or ~/.pgpass), "
                         "so that it is not on the command line for ps to show")
            ->envname("TK_DATABASE_PASSWORD_FILE")
            ->check(CLI::ExistingFile);
        command
            ->add_option("--log-level", log_level,
                         "trace, debug, info, warn, error, critical or off (logs go to stderr)")
            ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
            ->capture_default_str();
    };

    ServerConfig config;
    std::string listen = "127.0.0.1:8080";
    int header_timeout = 10;
    int body_timeout = 30;
    int shutdown_timeout = 10;
    int request_timeout = 20;
    ConnectionSettings db_settings;
    auto* serve =
        app.add_subcommand("serve",
                           "Apply migrations, then serve POST /v1/batches, DELETE /v1/subjects/{id}, "
                           "GET /v1/query, GET /v1/export, GET /v1/tools/TOOL/manifest, GET /healthz and GET /metrics "
                           "until SIGTERM");
    add_common(serve);
    serve->add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)")
        ->envname("TK_COLLECTOR_LISTEN")
        ->capture_default_str();
    std::string metrics_listen;
    serve
        ->add_option("--metrics-listen", metrics_listen,
                     "HOST:PORT to serve GET /metrics (and /healthz) on instead of the main listener, e.g. an "
                     "internal address (plain HTTP)")
        ->envname("TK_COLLECTOR_METRICS_LISTEN");
    std::string query_database_url;
    std::string query_password_file;
    serve
        ->add_option("--query-database-url", query_database_url,
                     "PostgreSQL for GET /v1/query and /v1/export, e.g. a streaming replica (libpq syntax; "
                     "default: --database-url). Ingest, erasure and keys stay on --database-url")
        ->envname("TK_QUERY_DATABASE_URL");
    serve
        ->add_option("--query-database-password-file", query_password_file,
                     "file whose first line is the password for --query-database-url (default: the "
                     "--database-password-file password, else libpq's PGPASSWORD or ~/.pgpass)")
        ->envname("TK_QUERY_DATABASE_PASSWORD_FILE")
        ->check(CLI::ExistingFile);
    serve
        ->add_option("--max-exports", config.max_exports,
                     "exports streaming at once (each holds a thread and a database connection); more: 503")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    int export_write_timeout = 30;
    int export_timeout = 3600;
    serve
        ->add_option("--export-write-timeout", export_write_timeout,
                     "seconds an export client may take to read each 64 KiB piece; slower: the export is cut off")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    serve
        ->add_option("--export-timeout", export_timeout,
                     "seconds one export may run at most (its COPY's statement_timeout; 0: none)")
        ->check(CLI::Range(0, 86400))
        ->capture_default_str();
    serve->add_option("--threads", config.io_threads, "I/O threads (0: one per CPU)")->capture_default_str();
    serve->add_option("--db-connections", config.db_workers, "database connections (and workers using them)")
        ->check(CLI::Range(1u, 1000u))
        ->capture_default_str();
    serve->add_option("--tls-cert", config.tls_cert_file, "PEM certificate chain: serve HTTPS (needs --tls-key)")
        ->check(CLI::ExistingFile);
    serve->add_option("--tls-key", config.tls_key_file, "PEM private key for --tls-cert")->check(CLI::ExistingFile);
    serve->add_option("--max-body-bytes", config.max_body_bytes, "largest request body; larger: 413")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
        ->capture_default_str();
    serve->add_option("--max-events", config.max_events, "most events in one batch; more: 400")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
        ->capture_default_str();
    serve
        ->add_option("--max-connections", config.max_connections,
                     "open connections at once; beyond: 503 with Retry-After, then close")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
        ->capture_default_str();
    serve
        ->add_option(
            "--max-buffered-bytes", config.max_buffered_bytes,
            "request bodies in memory at once (from their headers to their answers); beyond: 503 with Retry-After")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 34))
        ->capture_default_str();
    serve
        ->add_option("--max-queued-bytes", config.max_queued_bytes,
                     "batches waiting for or in database work (wire bytes + parsed size), in bytes; beyond: 503 with "
                     "Retry-After")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 34))
        ->capture_default_str();
    serve
        ->add_option("--max-parsed-bytes", config.max_parsed_bytes,
                     "largest estimated in-memory size of one parsed batch (counted from its wire bytes "
                     "before parsing); larger: 413")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 34))
        ->capture_default_str();
    serve
        ->add_option("--rate-limit", config.rate_limit,
                     "requests per second per ingest key and client address (0: unlimited); over it: 429")
        ->capture_default_str();
    serve->add_option("--rate-burst", config.rate_burst, "requests a key may make at once before --rate-limit applies")
        ->capture_default_str();
    serve
        ->add_option("--address-rate-limit", config.address_rate_limit,
                     "requests per second per client address, whatever the key (0: unlimited); over it: 429")
        ->capture_default_str();
    serve->add_option("--address-rate-burst", config.address_rate_burst, "burst for --address-rate-limit")
        ->capture_default_str();
    serve
        ->add_option("--key-lookup-rate-limit", config.key_lookup_rate_limit,
                     "database lookups of keys not in the cache, per second per client address (0: unlimited); "
                     "over it: 429")
        ->capture_default_str();
    serve->add_option("--key-lookup-rate-burst", config.key_lookup_rate_burst, "burst for --key-lookup-rate-limit")
        ->capture_default_str();
    serve
        ->add_option("--retention-days", config.retention_days,
                     "drop events older than this many days (whole monthly partitions; 0: keep forever)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    serve
        ->add_option("--header-timeout", header_timeout,
                     "seconds to receive a request's headers (and keep-alive idle time)")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    serve->add_option("--body-timeout", body_timeout, "seconds to receive a request's body")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    serve
        ->add_option("--request-timeout", request_timeout,
                     "seconds from a request read to its answer; past it: 503 with Retry-After (hung database)")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    serve
        ->add_option("--statement-timeout", db_settings.statement_timeout_ms,
                     "PostgreSQL statement_timeout for the collector's connections, in ms (0: none)")
        ->check(CLI::Range(0, 3600000))
        ->capture_default_str();
    serve
        ->add_option("--lock-timeout", db_settings.lock_timeout_ms,
                     "PostgreSQL lock_timeout for the collector's connections, in ms (0: none)")
        ->check(CLI::Range(0, 3600000))
        ->capture_default_str();
    serve->add_option("--shutdown-timeout", shutdown_timeout, "seconds in-flight requests may take after SIGTERM")
        ->check(CLI::Range(0, 3600))
        ->capture_default_str();

    auto* migrate = app.add_subcommand("migrate", "Apply the schema migrations this binary knows, then exit");
    add_common(migrate);

    auto* keys = app.add_subcommand("keys", "Manage ingest keys (stored hashed; a plain key is shown once)");
    keys->require_subcommand(1);
    std::string tool;
    std::string which;
    auto* create = keys->add_subcommand("create", "Make a key for a tool and print it (only the key, on stdout)");
    add_common(create);
    create->add_option("--tool", tool, "the tool's name, as its events carry it")->required();
    auto* list = keys->add_subcommand("list", "List keys: id, tool, prefix, created, revoked");
    add_common(list);
    auto* revoke = keys->add_subcommand("revoke", "Revoke a key by its id, its prefix or the key itself");
    add_common(revoke);
    revoke->add_option("key", which, "key id, prefix (tk_xxxxxxxx) or plain key")->required();

    TokenCommands token_commands;
    add_token_commands(app, token_commands, add_common);
    ExportCommand export_command;
    add_export_command(app, export_command, add_common);
    // `tools`: one parent, each group of its subcommands declared in its own file (one line each).
    auto* tools = app.add_subcommand("tools", "Per-tool settings on this collector (retention, quota, manifest)");
    tools->require_subcommand(1);
    ToolCommands tool_commands;
    add_tool_commands(*tools, tool_commands, add_common);
    ManifestCommands manifest_commands;
    add_manifest_commands(*tools, manifest_commands, add_common);

    CLI11_PARSE(app, argc, argv);
    setup_logging(log_level);

    try {
        if (!password_file.empty()) db_settings.password = read_password_file(password_file);
        if (*serve) {
            parse_listen(listen, config);
            if (!metrics_listen.empty()) {
                ServerConfig metrics;
                parse_listen(metrics_listen, metrics);
                config.metrics_host = metrics.host;
                config.metrics_port = metrics.port;
            }
            config.header_timeout = std::chrono::seconds(header_timeout);
            config.body_timeout = std::chrono::seconds(body_timeout);
            config.shutdown_timeout = std::chrono::seconds(shutdown_timeout);
            config.request_timeout = std::chrono::seconds(request_timeout);
            config.export_write_timeout = std::chrono::seconds(export_write_timeout);
            config.export_timeout = std::chrono::seconds(export_timeout);
            connect_and_migrate(database_url, db_settings.password);
            // Exports hold a connection of the read pool for as long as they stream.
            if (query_database_url.empty()) {
                ConnectionPool pool(database_url, config.db_workers + config.max_exports, db_settings);
                Server(config, pool).run();
                return 0;
            }
            ConnectionSettings query_settings = db_settings;
            if (!query_password_file.empty()) query_settings.password = read_password_file(query_password_file);
            ConnectionPool pool(database_url, config.db_workers, db_settings);
            ConnectionPool read_pool(query_database_url, config.db_workers + config.max_exports, query_settings);
            Server(config, pool, &read_pool).run();
            return 0;
        }
        // Before migrations: an export only reads, and may be pointed at a read-only replica.
        if (const auto exit_code = run_export_command(export_command, database_url, db_settings.password)) {
            return *exit_code;
        }
        auto conn = connect_and_migrate(database_url, db_settings.password);
        if (*migrate) {
            spdlog::info("schema is up to date");
            return 0;
        }
        if (const auto exit_code = run_token_commands(token_commands, *conn)) return *exit_code;
        if (const auto exit_code = run_tool_commands(tool_commands, *conn)) return *exit_code;
        if (const auto exit_code = run_manifest_commands(manifest_commands, *conn)) return *exit_code;
        if (*create) {
            std::cout << create_key(*conn, tool) << std::endl;
            return 0;
        }
        if (*list) {
            std::cout << "id\ttool\tprefix\tcreated\trevoked\n";
            for (const auto& key : list_keys(*conn)) {
                std::cout << key.id << '\t' << key.tool << '\t' << key.prefix << '\t' << key.created_at << '\t'
                          << (key.revoked_at.empty() ? "-" : key.revoked_at) << '\n';
            }
            return 0;
        }
        if (*revoke) {
            const int revoked = revoke_key(*conn, which);
            if (revoked == 0) {
                // Never the plain key itself (logs are read by more people than keys are shown
                // to): its prefix is enough to recognise it.
                spdlog::error("no valid key matches {}", which.substr(0, 11));
                return 1;
            }
            spdlog::info("revoked {} key(s)", revoked);
            return 0;
        }
    } catch (const CLI::Error& error) {
        return app.exit(error);
    } catch (const std::exception& error) {
        spdlog::error("{}", error.what());
        return 1;
    }
    return 0;
}
