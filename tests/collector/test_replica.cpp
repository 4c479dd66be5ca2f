// --query-database-url against a real streaming replica (ctest -L replica): a primary (the
// throwaway cluster, wal_level=replica), a standby made from it with `pg_basebackup -R` and
// started on its own port, and a collector writing to the primary and reading from the standby.
// Queries and exports are served by the standby: its pg_stat_activity shows the collector's read
// connections, and with the primary stopped they still answer while ingest gets 503.
#include <catch2/catch.hpp>

#include <pwd.h>
#include <unistd.h>

#include "export_helpers.hpp"

using namespace tk::test;

namespace {

/// A hot standby of `primary`, streaming from it, in its own temp dir on its own port.
class Replica {
public:
    explicit Replica(PostgresCluster& primary) : bin_(postgres_bin_dir()) {
        if (::geteuid() == 0) {
            run_as_ = "postgres";
            const passwd* pw = ::getpwnam("postgres");
            REQUIRE(pw != nullptr);
            REQUIRE(::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) == 0);
        }
        user_ = primary.url().substr(13, primary.url().find('@') - 13);  // postgresql://USER@/...
        const auto backup = run(
            as_owner({(bin_ / "pg_basebackup").string(), "-D", (dir_ / "data").string(), "-R", "-X", "stream", "-c",
                      "fast", "-h", primary.socket_dir().string(), "-p", std::to_string(primary.port()), "-U", user_}),
            120s);
        INFO(backup.out + backup.err);
        REQUIRE(backup.exit_code == 0);
        REQUIRE(fs::exists(dir_ / "data" / "standby.signal"));
        // max_connections as on the primary: a standby refuses to start with fewer.
        const auto started = run(as_owner({(bin_ / "pg_ctl").string(), "-D", (dir_ / "data").string(), "-l",
                                           (dir_ / "server.log").string(), "-o",
                                           "-k " + dir_.path().string() + " -p " + std::to_string(port_) +
                                               " -c listen_addresses='' -c max_connections=200 -c hot_standby=on",
                                           "-w", "-t", "60", "start"}),
                                 90s);
        INFO(started.out + started.err + read_file(dir_ / "server.log"));
        REQUIRE(started.exit_code == 0);
    }
    ~Replica() {
        (void)run(
            as_owner({(bin_ / "pg_ctl").string(), "-D", (dir_ / "data").string(), "-m", "immediate", "-w", "stop"}),
            60s);
    }
    Replica(const Replica&) = delete;
    Replica& operator=(const Replica&) = delete;

    std::string url() const {
        return "postgresql://" + user_ + "@/postgres?host=" + dir_.path().string() + "&port=" + std::to_string(port_);
    }
    std::string query(const std::string& sql) const {
        ProcessOptions options;
        options.argv = {
            (bin_ / "psql").string(),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            "host=" + dir_.path().string() + " port=" + std::to_string(port_) + " user=" + user_ + " dbname=postgres",
            "-c",
            sql};
        const auto result = run(options, 60s);
        if (result.exit_code != 0) throw std::runtime_error("psql on the replica failed: " + result.err);
        std::string out = result.out;
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        return out;
    }

private:
    ProcessOptions as_owner(std::vector<std::string> argv) const {
        ProcessOptions options;
        options.argv = std::move(argv);
        options.run_as_user = run_as_;
        options.cwd = dir_.path();
        options.env = {{"LC_ALL", "C"}, {"LANG", "C"}, {"PGTZ", "UTC"}};
        return options;
    }

    TempDir dir_{"tk-replica-"};
    fs::path bin_;
    std::optional<std::string> run_as_;
    std::string user_;
    unsigned short port_ = free_tcp_port();
};

/// A tk-collector writing to `primary_url` and reading from `replica_url`.
class SplitCollector {
public:
    SplitCollector(const std::string& primary_url, const std::string& replica_url) : port_(free_tcp_port()) {
        ProcessOptions options;
        options.argv = {binary("tk-collector").string(),
                        "serve",
                        "--listen",
                        "127.0.0.1:" + std::to_string(port_),
                        "--database-url",
                        primary_url,
                        "--query-database-url",
                        replica_url,
                        "--request-timeout",
                        "5"};
        options.env = hermetic_env(dir_.path());
        options.stderr_file = dir_ / "collector.log";
        options.stdout_file = dir_ / "collector.out";
        process_.emplace(options);
        const bool ready =
            wait_until([&] { return log().find("listening on") != std::string::npos || !process_->running(); }, 10s);
        INFO(log());
        REQUIRE(ready);
        REQUIRE(process_->running());
    }
    unsigned short port() const { return port_; }
    std::string log() const { return read_file(dir_ / "collector.log"); }

private:
    TempDir dir_{"tk-split-"};
    unsigned short port_;
    std::optional<ChildProcess> process_;
};

std::string command_output(const std::string& database_url, std::vector<std::string> args) {
    TempDir home("tk-cmd-");
    ProcessOptions options;
    options.argv = {binary("tk-collector").string()};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.argv.insert(options.argv.end(), {"--database-url", database_url});
    options.env = hermetic_env(home.path());
    const auto result = run(options, 30s);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    return result.out.substr(0, result.out.find('\n'));
}

}  // namespace

TEST_CASE("query-database-url: queries and exports are served by a streaming replica, ingest by the primary") {
    PostgresCluster primary;
    REQUIRE(primary.query("SHOW wal_level") == "replica");
    Replica replica(primary);
    SplitCollector collector(primary.url(), replica.url());
    REQUIRE(replica.query("SELECT pg_is_in_recovery()") == "t");

    const std::string key = command_output(primary.url(), {"keys", "create", "--tool", "my-cli"});
    const std::string token = command_output(primary.url(), {"tokens", "create", "--tool", "my-cli"});
    REQUIRE(post_batch(collector.port(), key, make_batch("my-cli", 20)).status == 200);

    // Wait (bounded) until the standby has replayed everything the primary wrote so far.
    const std::string lsn = primary.query("SELECT pg_current_wal_lsn()");
    REQUIRE(wait_until([&] { return replica.query("SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'") == "t"; }, 30s));

    const auto ask = [&] {
        return http_request(collector.port(), http::verb::get, "/v1/query?tool=my-cli&metric=events", {},
                            {{"Authorization", "Bearer " + token}});
    };
    const auto export_rows = [&] {
        const auto exported = http_request(collector.port(), http::verb::get, "/v1/export?tool=my-cli&format=ndjson",
                                           {}, {{"Authorization", "Bearer " + token}});
        REQUIRE(exported.status == 200);
        return std::count(exported.body.begin(), exported.body.end(), '\n');
    };
    const auto answered = ask();
    REQUIRE(answered.status == 200);
    CHECK(answered.body.find("\"rows\":[{\"value\":20}]") != std::string::npos);
    CHECK(export_rows() == 20);
    // The collector's read connections are the standby's (the primary's are ingest's).
    CHECK(std::stoi(replica.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tk-collector'")) >=
          1);

    // The primary goes away: reads still answer from the standby; ingest cannot (503).
    primary.stop();
    const auto without_primary = ask();
    CHECK(without_primary.status == 200);
    CHECK(without_primary.body.find("\"rows\":[{\"value\":20}]") != std::string::npos);
    CHECK(export_rows() == 20);
    const auto ingest = post_batch(collector.port(), key, make_batch("my-cli", 1));
    CHECK(ingest.status == 503);
    primary.start();  // so that its destructor stops it the usual way
}
