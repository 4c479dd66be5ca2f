#include "tk/common/manifest.hpp"

#include "tk/common/tool_name.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

namespace tk::manifest {
namespace v1 = telemetry_kit::v1;

namespace {

bool known_kind(const std::string& kind) {
    return kind.empty() || kind == "any" || kind == "command" || kind == "feature" || kind == "custom";
}

bool known_type(const std::string& type) {
    return type == "string" || type == "int" || type == "double" || type == "bool";
}

std::string quote(const std::string& text) { return "'" + text + "'"; }

Result<void> check_attribute(const std::string& where, const std::string& key, const v1::AttributeRule& rule) {
    const std::string at = where + ".attributes." + key;
    if (key.empty() || key.size() > kMaxNameBytes) return Error{at + ": an attribute key is 1 to 128 bytes"};
    if (!known_type(rule.type())) {
        return Error{at + ": type " + quote(rule.type()) + " is not one of string, int, double, bool"};
    }
    if (rule.type() != "string") {
        if (rule.values_size() > 0 || rule.max_length() > 0) {
            return Error{at + ": values and max_length are for strings only (type is " + rule.type() + ")"};
        }
        return {};
    }
    if (rule.values_size() > 0 && rule.max_length() > 0) {
        return Error{at + ": give either values (the allowed set) or max_length, not both"};
    }
    if (rule.values_size() == 0 && rule.max_length() == 0) {
        return Error{at + ": a string needs its allowed values or a max_length (free text is how identifiers leak)"};
    }
    if (rule.max_length() > kMaxStringLength) {
        return Error{at + ": max_length is at most " + std::to_string(kMaxStringLength)};
    }
    if (static_cast<std::size_t>(rule.values_size()) > kMaxValues) {
        return Error{at + ": at most " + std::to_string(kMaxValues) + " values"};
    }
    for (int i = 0; i < rule.values_size(); ++i) {
        if (rule.values(i).size() > kMaxStringLength) {
            return Error{at + ".values[" + std::to_string(i) + "]: longer than " + std::to_string(kMaxStringLength)};
        }
    }
    return {};
}

Result<void> check_rule(int index, const v1::EventRule& rule) {
    const std::string at = "events[" + std::to_string(index) + "]";
    if (!known_kind(rule.kind())) {
        return Error{at + ".kind: " + quote(rule.kind()) + " is not one of command, feature, custom, any"};
    }
    if (rule.name().empty() || rule.name().size() > kMaxNameBytes) {
        return Error{at + ".name: an event name or pattern is 1 to 128 bytes"};
    }
    if (rule.has_sample_rate() && !(rule.sample_rate() > 0.0 && rule.sample_rate() <= 1.0)) {
        return Error{at + ".sample_rate: must be more than 0 and at most 1 (to record none, leave the event out)"};
    }
    if (static_cast<std::size_t>(rule.attributes_size()) > kMaxAttributesPerRule) {
        return Error{at + ".attributes: at most " + std::to_string(kMaxAttributesPerRule)};
    }
    if (rule.description().size() > kMaxDescriptionBytes) return Error{at + ".description: too long"};
    // In key order, so the first error named is the same every time.
    const std::map<std::string, v1::AttributeRule> sorted(rule.attributes().begin(), rule.attributes().end());
    for (const auto& [key, attribute] : sorted) {
        if (auto checked = check_attribute(at, key, attribute); !checked) return checked;
    }
    return {};
}

/// Line and column (1-based) of byte `offset` in `text`.
std::string position(std::string_view text, std::size_t offset) {
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

/// A JSON syntax checker, only to say where a file is broken (protobuf's parser says what, not
/// where): the first error's byte offset and what was expected there.
class SyntaxCheck {
public:
    explicit SyntaxCheck(std::string_view text) : text_(text) {}

    /// "" if `text` is one well-formed JSON value, else "line L, column C: <what>".
    std::string run() {
        space();
        if (!value(0)) return where();
        space();
        if (at_ < text_.size()) return fail("unexpected text after the end"), where();
        return {};
    }

private:
    static constexpr int kMaxDepth = 64;

    bool fail(const char* what) {
        if (error_.empty()) error_ = what;
        return false;
    }
    std::string where() const { return position(text_, at_) + ": " + error_; }
    bool more() const { return at_ < text_.size(); }
    char peek() const { return more() ? text_[at_] : '\0'; }
    void space() {
        while (more() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++at_;
    }
    bool literal(std::string_view word) {
        if (text_.substr(at_, word.size()) != word) return fail("expected a value");
        at_ += word.size();
        return true;
    }
    bool string() {
        ++at_;  // the opening quote
        while (more() && peek() != '"') {
            if (static_cast<unsigned char>(peek()) < 0x20) return fail("a control character inside a string");
            if (peek() == '\\') ++at_;
            ++at_;
        }
        if (!more()) return fail("a string is not closed");
        ++at_;
        return true;
    }
    bool number() {
        const std::size_t begin = at_;
        while (more() && std::string_view("+-0123456789.eE").find(peek()) != std::string_view::npos) ++at_;
        return at_ > begin || fail("expected a value");
    }
    bool list(int depth, char close, bool keyed) {
        ++at_;
        space();
        if (peek() == close) return ++at_, true;
        for (;;) {
            if (keyed) {
                if (peek() != '"') return fail("expected a field name in quotes");
                if (!string()) return false;
                space();
                if (peek() != ':') return fail("expected ':' after the field name");
                ++at_;
                space();
            }
            if (!value(depth + 1)) return false;
            space();
            if (peek() == close) return ++at_, true;
            if (peek() != ',') return fail(keyed ? "expected ',' or '}'" : "expected ',' or ']'");
            ++at_;
            space();
        }
    }
    bool value(int depth) {
        if (depth > kMaxDepth) return fail("nested too deeply");
        switch (peek()) {
            case '{': return list(depth, '}', true);
            case '[': return list(depth, ']', false);
            case '"': return string();
            case 't': return literal("true");
            case 'f': return literal("false");
            case 'n': return literal("null");
            default: return number();
        }
    }

    std::string_view text_;
    std::size_t at_ = 0;
    std::string error_;
};

}  // namespace

Result<void> check(const v1::Manifest& manifest) {
    if (!valid_tool_name(manifest.tool())) return Error{"tool: 1 to 64 characters of A-Z a-z 0-9 . _ -"};
    if (manifest.description().size() > kMaxDescriptionBytes) return Error{"description: too long"};
    if (static_cast<std::size_t>(manifest.events_size()) > kMaxRules) {
        return Error{"events: at most " + std::to_string(kMaxRules) + " rules"};
    }
    for (int i = 0; i < manifest.events_size(); ++i) {
        if (auto checked = check_rule(i, manifest.events(i)); !checked) return checked;
    }
    return {};
}

Result<v1::Manifest> parse(std::string_view json) {
    if (json.size() > kMaxFileBytes) return Error{"larger than " + std::to_string(kMaxFileBytes) + " bytes"};
    v1::Manifest manifest;
    google::protobuf::util::JsonParseOptions options;  // unknown fields are errors: a typo is not ignored
    const auto status = google::protobuf::util::JsonStringToMessage(std::string(json), &manifest, options);
    if (!status.ok()) {
        const std::string syntax = SyntaxCheck(json).run();
        return Error{!syntax.empty() ? syntax : std::string(status.message())};
    }
    if (auto checked = check(manifest); !checked) return Error{checked.error()};
    return manifest;
}

std::string to_json(const v1::Manifest& manifest) {
    std::string out;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(manifest, &out, options);
    return out;
}

bool name_matches(std::string_view pattern, std::string_view name) {
    // Greedy wildcard match with one backtrack point: linear enough for 128-byte names.
    std::size_t p = 0;
    std::size_t n = 0;
    std::size_t star = std::string_view::npos;
    std::size_t resume = 0;
    while (n < name.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = n;
        } else if (p < pattern.size() && pattern[p] == name[n]) {
            ++p;
            ++n;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

namespace {

std::string kind_words(const std::string& kind) {
    if (kind == "command") return "the command";
    if (kind == "feature") return "the feature";
    if (kind == "custom") return "the event";
    return "the event (any kind)";
}

std::string attribute_words(const std::string& key, const v1::AttributeRule& rule) {
    std::string words = key + " (";
    if (rule.type() == "string" && rule.values_size() > 0) {
        words += "one of ";
        for (int i = 0; i < rule.values_size(); ++i) words += (i > 0 ? ", " : "") + rule.values(i);
    } else if (rule.type() == "string") {
        words += "text of at most " + std::to_string(rule.max_length()) + " characters";
    } else if (rule.type() == "bool") {
        words += "yes/no";
    } else {
        words += rule.type() == "int" ? "a whole number" : "a number";
    }
    return words + ")";
}

std::string percent(double rate) {
    const double value = rate * 100.0;
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, value == std::floor(value) ? "%.0f%%" : "%.2g%%", value);
    return buffer;
}

}  // namespace

std::string describe(const v1::Manifest& manifest) {
    std::string out;
    out += manifest.tool() + ", manifest version " + std::to_string(manifest.version());
    if (!manifest.changed().empty()) out += " of " + manifest.changed();
    out += manifest.required() ? " (required: the tool sends nothing without it)\n" : "\n";
    if (!manifest.description().empty()) out += manifest.description() + "\n";
    if (manifest.events_size() == 0) return out + "It may record nothing.\n";
    out += "It may record only:\n";
    for (const auto& rule : manifest.events()) {
        out += "- " + kind_words(rule.kind()) + " " + quote(rule.name());
        if (rule.name().find('*') != std::string::npos) out += " ('*' = anything)";
        if (rule.kind() == "command") out += ", whether it succeeded, how long it took, its exit code";
        const std::map<std::string, v1::AttributeRule> sorted(rule.attributes().begin(), rule.attributes().end());
        if (!sorted.empty()) {
            out += ", with ";
            bool first = true;
            for (const auto& [key, attribute] : sorted) {
                out += (first ? "" : ", ") + attribute_words(key, attribute);
                first = false;
            }
        }
        if (rule.has_sample_rate() && rule.sample_rate() < 1.0)
            out += "; only " + percent(rule.sample_rate()) + " of them";
        if (!rule.description().empty()) out += " — " + rule.description();
        out += "\n";
    }
    out +=
        "Every event also carries the tool's version, a coarse platform (OS family, architecture) and an "
        "anonymous id of this tool on this machine. Anything else is dropped on this machine.\n";
    return out;
}

std::string summary(const v1::Manifest& manifest) {
    std::vector<std::string> names;
    std::size_t details = 0;
    bool sampled = false;
    for (const auto& rule : manifest.events()) {
        if (std::find(names.begin(), names.end(), rule.name()) == names.end()) names.push_back(rule.name());
        details += static_cast<std::size_t>(rule.attributes_size());
        sampled = sampled || (rule.has_sample_rate() && rule.sample_rate() < 1.0);
    }
    if (names.empty())
        return "nothing (its published manifest, version " + std::to_string(manifest.version()) + ", allows no events)";
    std::string list;
    for (std::size_t i = 0; i < names.size() && i < 6; ++i) list += (i > 0 ? ", " : "") + names[i];
    if (names.size() > 6) list += ", ...";
    return "only the events its published manifest (version " + std::to_string(manifest.version()) +
           ") lists: " + list + ", with " + std::to_string(details) + " declared detail" + (details == 1 ? "" : "s") +
           (sampled ? ", some sampled" : "") + " (`tk manifest " + manifest.tool() + "` shows all)";
}

}  // namespace tk::manifest
