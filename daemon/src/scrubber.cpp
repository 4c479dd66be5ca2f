#include "tk/agent/scrubber.hpp"

#include <arpa/inet.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace tk::agent {

namespace {

bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_email_local(char c) { return is_word(c) || c == '.' || c == '%' || c == '+' || c == '-'; }
bool is_email_domain(char c) { return is_word(c) || c == '.' || c == '-'; }
bool is_address_char(char c) { return is_hex(c) || c == ':' || c == '.'; }

bool valid_ipv4(std::string text) {
    while (!text.empty() && text.back() == '.') text.pop_back();
    in_addr addr{};
    return std::count(text.begin(), text.end(), '.') == 3 && inet_pton(AF_INET, text.c_str(), &addr) == 1;
}

bool valid_ipv6(std::string text) {
    while (!text.empty() && text.back() == '.') text.pop_back();
    in6_addr addr{};
    return std::count(text.begin(), text.end(), ':') >= 2 && inet_pton(AF_INET6, text.c_str(), &addr) == 1;
}

/// E-mail addresses: a run of local-part characters, '@', a domain with a dot.
void replace_emails(std::string& text, bool& changed) {
    std::size_t at = text.find('@');
    while (at != std::string::npos) {
        std::size_t begin = at;
        while (begin > 0 && is_email_local(text[begin - 1])) --begin;
        std::size_t end = at + 1;
        while (end < text.size() && is_email_domain(text[end])) ++end;
        while (end > at + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) --end;
        const auto dot = text.find('.', at + 1);
        if (begin < at && dot != std::string::npos && dot + 1 < end && dot > at + 1) {
            text.replace(begin, end - begin, "<email>");
            changed = true;
            at = text.find('@', begin + 7);
        } else {
            at = text.find('@', at + 1);
        }
    }
}

/// IPv4 and IPv6 addresses: maximal runs of [0-9a-fA-F:.] not glued to a word, checked with
/// inet_pton (so "std::vector" or "12:30:00" stay as they are).
void replace_addresses(std::string& text, bool& changed) {
    std::string out;
    std::size_t copied = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_address_char(text[i])) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && is_address_char(text[end])) ++end;
        const bool bounded = (i == 0 || !is_word(text[i - 1])) && (end == text.size() || !is_word(text[end]));
        // Cheap pre-check before any copy: an address needs two colons or three dots.
        const auto first = text.begin() + static_cast<std::ptrdiff_t>(i);
        const auto last = text.begin() + static_cast<std::ptrdiff_t>(end);
        const bool could_be = std::count(first, last, ':') >= 2 || std::count(first, last, '.') >= 3;
        if (bounded && could_be) {
            const std::string run = text.substr(i, end - i);
            std::string replaced;
            bool any = false;
            if (valid_ipv6(run)) {
                replaced = "<ip>";
                any = true;
                // Keep trailing dots (end of a sentence) outside the replacement.
                for (std::size_t k = run.size(); k > 0 && run[k - 1] == '.'; --k) replaced.push_back('.');
            } else if (run.find_first_of("0123456789") != std::string::npos) {
                // IPv4 parts separated by ':' (e.g. "10.0.0.1:8080").
                std::size_t start = 0;
                while (start <= run.size()) {
                    std::size_t colon = run.find(':', start);
                    if (colon == std::string::npos) colon = run.size();
                    std::string part = run.substr(start, colon - start);
                    std::size_t trailing = 0;
                    while (trailing < part.size() && part[part.size() - 1 - trailing] == '.') ++trailing;
                    if (valid_ipv4(part)) {
                        replaced += "<ip>";
                        replaced.append(trailing, '.');
                        any = true;
                    } else {
                        replaced += part;
                    }
                    if (colon < run.size()) replaced.push_back(':');
                    start = colon + 1;
                }
            }
            if (any) {
                out.append(text, copied, i - copied);
                out += replaced;
                copied = end;
                changed = true;
            }
        }
        i = end;
    }
    if (copied > 0) {
        out.append(text, copied, std::string::npos);
        text.swap(out);
    }
}

}  // namespace

void truncate_utf8(std::string& text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return;
    std::size_t cut = max_bytes;
    // Step back over continuation bytes (10xxxxxx) so a multi-byte sequence is never split.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text.resize(cut);
}

Scrubber::Scrubber(std::string home, std::string user) : home_(std::move(home)), user_(std::move(user)) {
    while (home_.size() > 1 && home_.back() == '/') home_.pop_back();
    if (home_ == "/") home_.clear();  // "/" would turn every absolute path into "~"
}

Scrubber Scrubber::for_current_user() {
    std::string home;
    std::string user;
    if (const char* env_home = std::getenv("HOME"); env_home != nullptr) home = env_home;
    if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr) {
        if (home.empty() && pw->pw_dir != nullptr) home = pw->pw_dir;
        if (pw->pw_name != nullptr) user = pw->pw_name;
    }
    return Scrubber(std::move(home), std::move(user));
}

void Scrubber::replace_home(std::string& text, bool& changed) const {
    if (home_.empty()) return;
    std::size_t pos = text.find(home_);
    while (pos != std::string::npos) {
        const std::size_t end = pos + home_.size();
        // "/home/al" must not match inside "/home/alice"; a match must end the path component.
        const bool component_end = end == text.size() || text[end] == '/' || !(is_word(text[end]) || text[end] == '-' || text[end] == '.');
        if (component_end) {
            text.replace(pos, home_.size(), "~");
            changed = true;
            pos = text.find(home_, pos + 1);
        } else {
            pos = text.find(home_, pos + 1);
        }
    }
}

void Scrubber::replace_user(std::string& text, bool& changed) const {
    if (user_.empty()) return;
    std::size_t pos = text.find(user_);
    while (pos != std::string::npos) {
        const std::size_t end = pos + user_.size();
        const bool word = (pos == 0 || !is_word(text[pos - 1])) && (end == text.size() || !is_word(text[end]));
        if (word) {
            text.replace(pos, user_.size(), "<user>");
            changed = true;
            pos = text.find(user_, pos + 6);
        } else {
            pos = text.find(user_, pos + 1);
        }
    }
}

bool Scrubber::scrub(std::string& text) const {
    // One pass to see which scans can matter: most attribute values have no '@', digit or ':'.
    bool at = false;
    bool address = false;
    for (const char c : text) {
        at |= c == '@';
        address |= (c >= '0' && c <= '9') || c == ':';
    }
    bool changed = false;
    replace_home(text, changed);
    if (at) replace_emails(text, changed);
    if (address) replace_addresses(text, changed);
    replace_user(text, changed);
    return changed;
}

Scrubber::Result Scrubber::apply(telemetry_kit::v1::Event& event) const {
    Result result;
    if (event.name().size() > kMaxEventNameBytes) {
        truncate_utf8(*event.mutable_name(), kMaxEventNameBytes);
        result.changed = true;
    }
    if (event.tool_version().size() > kMaxToolVersionBytes) {
        truncate_utf8(*event.mutable_tool_version(), kMaxToolVersionBytes);
        result.changed = true;
    }
    auto& attributes = *event.mutable_attributes();
    for (auto it = attributes.begin(); it != attributes.end();) {
        if (it->first.empty() || it->first.size() > kMaxAttributeKeyBytes) {
            it = attributes.erase(it);
            ++result.dropped_attributes;
            continue;
        }
        if (it->second.has_string_value()) {
            std::string& value = *it->second.mutable_string_value();
            if (scrub(value)) result.changed = true;
            if (value.size() > kMaxStringValueBytes) {
                truncate_utf8(value, kMaxStringValueBytes);
                result.changed = true;
            }
        }
        ++it;
    }
    if (attributes.size() > kMaxAttributes) {
        // Keep the first kMaxAttributes keys in byte order, so what is kept does not depend on
        // the map's iteration order.
        std::vector<std::string> keys;
        keys.reserve(attributes.size());
        for (const auto& entry : attributes) keys.push_back(entry.first);
        std::sort(keys.begin(), keys.end());
        for (std::size_t i = kMaxAttributes; i < keys.size(); ++i) attributes.erase(keys[i]);
        result.dropped_attributes += keys.size() - kMaxAttributes;
    }
    if (result.dropped_attributes > 0) result.changed = true;
    return result;
}

}  // namespace tk::agent
