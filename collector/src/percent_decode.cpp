// Percent-decoding of a path segment or a query string's names and values (percent_decode.hpp).
#include "tk/collector/percent_decode.hpp"

#include "tk/common/hex.hpp"

namespace tk::collector {

std::optional<std::string> percent_decode(std::string_view text, UrlPart part) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+' && part == UrlPart::query) {
            out.push_back(' ');
            continue;
        }
        if (text[i] != '%') {
            out.push_back(text[i]);
            continue;
        }
        if (i + 2 >= text.size()) return std::nullopt;
        const int high = tk::hex_digit_value(text[i + 1]);
        const int low = tk::hex_digit_value(text[i + 2]);
        if (high < 0 || low < 0) return std::nullopt;
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
    }
    return out;
}

std::string for_each_query_param(
    std::string_view query_string,
    const std::function<std::string(const std::string& key, const std::string& value)>& visit) {
    while (!query_string.empty()) {
        const auto amp = query_string.find('&');
        const auto pair = query_string.substr(0, amp);
        query_string = amp == std::string_view::npos ? std::string_view() : query_string.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        const auto key = percent_decode(pair.substr(0, eq), UrlPart::query);
        const auto value =
            percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), UrlPart::query);
        if (!key || !value) return "malformed percent-encoding";
        if (auto error = visit(*key, *value); !error.empty()) return error;
    }
    return "";
}

}  // namespace tk::collector
