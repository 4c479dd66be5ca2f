// GET /v1/tools and GET /v1/cohorts: what the dashboard needs besides /v1/query. Both check the
// read token first (tokens.hpp), in the same way and with the same answers as /v1/query.
#include <string>

#include "dashboard_routes.hpp"
#include "tk/collector/cohorts.hpp"
#include "tk/collector/keys.hpp"
#include "tk/collector/tokens.hpp"
#include "tk/common/json.hpp"

namespace tk::collector::detail {

namespace {

Response json_response(unsigned version, std::string body) {
    Response response{http::status::ok, version};
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");
    response.body() = std::move(body);
    return response;
}

}  // namespace

Response tools_response(Connection& conn, std::string_view authorization, unsigned version) {
    // authorize_read() with a tool no token can name ("" is never a tool) tells 401 from a valid
    // token, and hands back the token's tools.
    const ReadAuth auth = authorize_read(conn, authorization, "");
    if (!auth.token) return text_response(version, http::status::unauthorized, auth.message + "\n");
    std::string json = "{\"tools\":[";
    for (std::size_t i = 0; i < auth.token->tools.size(); ++i) {
        if (i) json += ",";
        tk::json::append_string(json, auth.token->tools[i]);
    }
    json += "]}\n";
    return json_response(version, std::move(json));
}

Response cohorts_response(Connection& conn, std::string_view authorization, std::string_view query_string,
                          unsigned version) {
    auto parsed = parse_cohorts(query_string);
    if (auto* error = std::get_if<std::string>(&parsed)) {
        return text_response(version, http::status::bad_request, *error + "\n");
    }
    const auto& params = std::get<CohortParams>(parsed);
    const ReadAuth auth = authorize_read(conn, authorization, params.tool);
    if (auth.status != 200) return text_response(version, static_cast<http::status>(auth.status), auth.message + "\n");
    QueryResult result = answer_cohorts(conn, params);
    if (result.status != 200) return text_response(version, http::status::bad_request, result.body);
    return json_response(version, std::move(result.body));
}

}  // namespace tk::collector::detail
