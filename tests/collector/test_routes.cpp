// classify(): the collector's routing decision, without a server (collector/src/route.cpp).
#include <catch2/catch.hpp>

#include "tk/collector/route.hpp"

using tk::collector::classify;
using tk::collector::Route;
using tk::collector::route_label;
using tk::collector::route_method;
namespace http = boost::beast::http;

TEST_CASE("classify: each route by its path and its one method") {
    struct Case {
        http::verb method;
        const char* target;
        Route route;
    };
    const Case cases[] = {
        {http::verb::post, "/v1/batches", Route::batches},
        {http::verb::delete_, "/v1/subjects/abc", Route::subject},
        {http::verb::get, "/v1/query?tool=t&metric=count", Route::query},
        {http::verb::get, "/v1/export?tool=t", Route::export_},
        {http::verb::get, "/healthz", Route::healthz},
        {http::verb::get, "/metrics", Route::metrics},
        {http::verb::get, "/v1/tools", Route::tools},
        {http::verb::get, "/v1/cohorts?tool=t", Route::cohorts},
        {http::verb::get, "/", Route::dashboard},
    };
    for (const auto& c : cases) {
        INFO(c.target);
        const auto match = classify(c.method, c.target);
        CHECK(match.route == c.route);
        CHECK(match.method_allowed);
        CHECK(route_method(c.route) == c.method);
    }
}

TEST_CASE("classify: the wrong method names the route but is not allowed") {
    const auto match = classify(http::verb::get, "/v1/batches");
    CHECK(match.route == Route::batches);
    CHECK_FALSE(match.method_allowed);
    CHECK(route_method(match.route) == http::verb::post);
    CHECK_FALSE(classify(http::verb::post, "/v1/query").method_allowed);
    CHECK_FALSE(classify(http::verb::get, "/v1/subjects/abc").method_allowed);
    CHECK_FALSE(classify(http::verb::head, "/healthz").method_allowed);
}

TEST_CASE("classify: the subject's id is the rest of the path, without the query string, still encoded") {
    const auto match = classify(http::verb::delete_, "/v1/subjects/a%2Fb?x=1");
    CHECK(match.route == Route::subject);
    CHECK(match.param == "a%2Fb");
    CHECK(classify(http::verb::delete_, "/v1/subjects/").param.empty());
}

TEST_CASE("classify: a tool's public manifest and its history, the tool still encoded") {
    auto match = classify(http::verb::get, "/v1/tools/my-cli/manifest");
    CHECK(match.route == Route::manifest);
    CHECK(match.method_allowed);
    CHECK(match.param == "my-cli");
    match = classify(http::verb::get, "/v1/tools/my%2Dcli/manifest/history?x=1");
    CHECK(match.route == Route::manifest_history);
    CHECK(match.param == "my%2Dcli");
    CHECK_FALSE(classify(http::verb::put, "/v1/tools/my-cli/manifest").method_allowed);
    for (const char* target : {"/v1/tools//manifest", "/v1/tools/a/b/manifest", "/v1/tools/manifest",
                               "/v1/tools/a/manifest/", "/v1/tools/a/manifests"}) {
        INFO(target);
        CHECK(classify(http::verb::get, target).route == Route::not_found);
    }
    CHECK(std::string(route_label(Route::manifest_history)) == "manifest");
}

TEST_CASE("classify: near misses are not found, and a query string does not change the route") {
    for (const char* target : {"/v1/batches/", "/v1/batch", "/V1/batches", "/v1/subjects", "/metricsx", "/v1/tools/x",
                               "", "/no-such-file.js", "?/v1/batches"}) {
        INFO(target);
        const auto match = classify(http::verb::get, target);
        CHECK(match.route == Route::not_found);
        CHECK_FALSE(match.method_allowed);
    }
    CHECK(classify(http::verb::post, "/v1/batches?x=/metrics").route == Route::batches);
}

TEST_CASE("route_label: the metrics labels stay what dashboards and alerts already use") {
    CHECK(std::string(route_label(Route::batches)) == "batches");
    CHECK(std::string(route_label(Route::subject)) == "subjects");
    CHECK(std::string(route_label(Route::export_)) == "export");
    CHECK(std::string(route_label(Route::dashboard)) == "dashboard");
    CHECK(std::string(route_label(Route::not_found)) == "other");
}
