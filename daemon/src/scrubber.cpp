// Scrubbing and bounding of what a tool sends (scrubber.hpp; the rules in docs/privacy.md).
#include "tk/agent/scrubber.hpp"

#include <arpa/inet.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace tk::agent {

namespace {

// Every pass below is one left-to-right scan that copies into a new string (never replace() in
// the middle of a string, which is quadratic with many matches), and every look-ahead is bounded
// by the run of characters it belongs to, so a pass is linear in the value's size.

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool is_word(char c) { return is_alnum(c) || c == '_'; }
bool is_upper_alnum(char c) { return (c >= 'A' && c <= 'Z') || is_digit(c); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_base64url(char c) { return is_word(c) || c == '-'; }
bool is_space(char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }
bool is_email_local(char c) { return is_word(c) || c == '.' || c == '%' || c == '+' || c == '-'; }
bool is_email_domain(char c) { return is_word(c) || c == '.' || c == '-'; }
bool is_address_char(char c) { return is_hex(c) || c == ':' || c == '.'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

/// Whether `text` has `lowercase` at `pos`, ignoring ASCII case.
bool at_ci(std::string_view text, std::size_t pos, std::string_view lowercase) {
    if (pos > text.size() || text.size() - pos < lowercase.size()) return false;
    for (std::size_t i = 0; i < lowercase.size(); ++i) {
        if (lower(text[pos + i]) != lowercase[i]) return false;
    }
    return true;
}

/// End of the run of characters matching `pred` that starts at `pos`.
template <typename Pred>
std::size_t run_end(std::string_view text, std::size_t pos, Pred pred) {
    while (pos < text.size() && pred(text[pos])) ++pos;
    return pos;
}

/// The replacement tokens; a later pass must not take them for user input.
constexpr std::array<std::string_view, 7> kTokens = {"<user>",   "<email>",       "<ip>",         "<mac>",
                                                     "<secret>", "<credentials>", "<private-key>"};

std::size_t token_at(std::string_view text, std::size_t pos) {
    for (const auto token : kTokens) {
        if (text.substr(pos, token.size()) == token) return token.size();
    }
    return 0;
}

/// Copies `in` with some ranges replaced; `finish` puts the result in place if anything changed.
class Rewrite {
public:
    explicit Rewrite(const std::string& in) : in_(in) {}
    /// Ranges must come in order and not overlap.
    void replace(std::size_t begin, std::size_t end, std::string_view with) {
        out_.append(in_, copied_, begin - copied_);
        out_ += with;
        copied_ = end;
        changed_ = true;
    }
    std::size_t copied() const { return copied_; }
    bool finish(std::string& text) {
        if (!changed_) return false;
        out_.append(in_, copied_, std::string::npos);
        text.swap(out_);
        return true;
    }

private:
    const std::string& in_;
    std::string out_;
    std::size_t copied_ = 0;
    bool changed_ = false;
};

/// `-----BEGIN … PRIVATE KEY-----` up to its END line (or the end of the value, if cut).
bool scrub_private_keys(std::string& text) {
    static constexpr std::string_view kBegin = "-----BEGIN";
    static constexpr std::string_view kDashes = "-----";
    Rewrite out(text);
    std::size_t pos = 0;
    while ((pos = text.find(kBegin, pos)) != std::string::npos) {
        const std::size_t header_end = text.find(kDashes, pos + kBegin.size());
        if (header_end == std::string::npos) break;
        const std::string_view header(text.data() + pos, header_end - pos);
        if (header.size() > 80 || header.find("PRIVATE KEY") == std::string_view::npos) {
            pos = header_end;  // no "-----BEGIN" can start before it
            continue;
        }
        std::size_t end = text.size();
        if (const auto end_line = text.find("-----END", header_end + kDashes.size()); end_line != std::string::npos) {
            const auto close = text.find(kDashes, end_line + 8);
            end = close == std::string::npos ? text.size() : close + kDashes.size();
        }
        out.replace(pos, end, "<private-key>");
        pos = end;
    }
    return out.finish(text);
}

/// The user-info part of a URL: `scheme://user:password@host` -> `scheme://<credentials>@host`.
/// A password may contain anything but white space ('@', '/', '#' included), so the user info ends
/// at the last '@' before the first '/', or — when the part before the first '/' is `user:x` and
/// x is not a port number — at the last '@' of the URL.
bool scrub_url_credentials(std::string& text) {
    Rewrite out(text);
    std::size_t pos = 0;
    std::size_t url_end = 0;                  // end of the current white-space-free run
    std::size_t last_at = std::string::npos;  // the last '@' in it
    while ((pos = text.find("://", pos)) != std::string::npos) {
        const std::size_t start = pos + 3;
        if (start >= url_end) {
            url_end = run_end(text, start, [](char c) { return !is_space(c); });
            last_at = std::string::npos;
            for (std::size_t i = url_end; i > start; --i) {
                if (text[i - 1] == '@') {
                    last_at = i - 1;
                    break;
                }
            }
        }
        // Up to the first '/': "://" itself contains one, so this scan never passes the next URL.
        std::size_t slash = start;
        std::size_t at = std::string::npos;
        std::size_t colon = std::string::npos;
        for (; slash < url_end && text[slash] != '/'; ++slash) {
            if (text[slash] == '@') at = slash;
            if (text[slash] == ':') colon = slash;
        }
        if (at == std::string::npos && colon != std::string::npos && slash < url_end && last_at != std::string::npos &&
            last_at > slash) {
            const bool port =
                colon + 1 < slash && std::all_of(text.begin() + static_cast<std::ptrdiff_t>(colon + 1),
                                                 text.begin() + static_cast<std::ptrdiff_t>(slash), is_digit);
            if (!port) at = last_at;
        }
        if (at != std::string::npos && at > start) {
            out.replace(start, at, "<credentials>");
            pos = at + 1;
        } else {
            pos = start;
        }
    }
    return out.finish(text);
}

/// Secret shapes: API tokens with well-known prefixes, JWTs, `Bearer <token>` and
/// `Authorization: <anything>` (to the end of the line).
class SecretScanner {
public:
    explicit SecretScanner(std::string_view text) : text_(text) {}

    /// The end of a secret starting at `i` (which starts a word), or 0.
    std::size_t match(std::size_t i) const {
        switch (text_[i]) {
            case 'g':
                for (const std::string_view prefix : {"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}) {
                    if (text_.substr(i, 4) == prefix) return tail(i + 4, 20, is_alnum);
                }
                if (text_.substr(i, 11) == "github_pat_") return tail(i + 11, 20, is_word);
                if (text_.substr(i, 6) == "glpat-") return tail(i + 6, 20, is_base64url);
                return 0;
            case 'x':
                if (text_.substr(i, 3) == "xox" && i + 4 < text_.size() && is_alpha(text_[i + 3]) &&
                    text_[i + 4] == '-') {
                    return tail(i + 5, 10, [](char c) { return is_alnum(c) || c == '-'; });
                }
                return 0;
            case 'n': return text_.substr(i, 4) == "npm_" ? tail(i + 4, 20, is_alnum) : 0;
            case 'A':
                if (text_.substr(i, 4) == "AKIA" || text_.substr(i, 4) == "ASIA") {
                    const std::size_t end = run_end(text_, i + 4, is_upper_alnum);
                    return end - i == 20 && (end == text_.size() || !is_alnum(text_[end])) ? end : 0;
                }
                if (text_.substr(i, 4) == "AIza") return tail(i + 4, 30, is_base64url);
                return authorization(i);
            case 'a': return authorization(i);
            case 'e': return jwt(i);
            case 'b':
            case 'B': return bearer(i);
            default: return 0;
        }
    }
    /// Where the replacement starts for a secret found at `i` (`Bearer ` and `Authorization: ` stay).
    std::size_t keep_until(std::size_t i) const {
        const auto blank = [](char c) { return c == ' ' || c == '\t'; };
        if (at_ci(text_, i, "bearer")) return run_end(text_, i + 6, blank);
        if (at_ci(text_, i, "authorization")) {
            const std::size_t pos = run_end(text_, i + 13, blank);  // then ':' or '=', as match() checked
            return run_end(text_, pos + 1, blank);
        }
        return i;
    }

private:
    /// The end of a run of `pred` from `pos` if it is at least `min` long and not glued to more word.
    template <typename Pred>
    std::size_t tail(std::size_t pos, std::size_t min, Pred pred) const {
        const std::size_t end = run_end(text_, pos, pred);
        return end - pos >= min ? end : 0;
    }
    /// Three base64url parts joined by dots, the first starting `eyJ` (a JSON object).
    std::size_t jwt(std::size_t i) const {
        if (text_.substr(i, 3) != "eyJ") return 0;
        std::size_t end = run_end(text_, i, is_base64url);
        if (end - i < 10 || end >= text_.size() || text_[end] != '.') return 0;
        const std::size_t payload = end + 1;
        end = run_end(text_, payload, is_base64url);
        if (end == payload || end >= text_.size() || text_[end] != '.') return 0;
        return run_end(text_, end + 1, is_base64url);  // the signature may be empty (alg "none")
    }
    /// `Bearer <token>`: a token of at least 20 characters, or 8 with a digit (not "Bearer tokens").
    std::size_t bearer(std::size_t i) const {
        if (!at_ci(text_, i, "bearer")) return 0;
        const std::size_t token = run_end(text_, i + 6, [](char c) { return c == ' ' || c == '\t'; });
        if (token == i + 6) return 0;
        const auto is_token = [](char c) {
            return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
        };
        const std::size_t end = run_end(text_, token, is_token);
        const std::size_t length = end - token;
        const bool digit = std::any_of(text_.begin() + static_cast<std::ptrdiff_t>(token),
                                       text_.begin() + static_cast<std::ptrdiff_t>(end), is_digit);
        return length >= 20 || (length >= 8 && digit) ? end : 0;
    }
    /// `Authorization: …` / `authorization=…` (an HTTP header or a config line): to the end of the line.
    std::size_t authorization(std::size_t i) const {
        if (!at_ci(text_, i, "authorization")) return 0;
        std::size_t pos = run_end(text_, i + 13, [](char c) { return c == ' ' || c == '\t'; });
        if (pos >= text_.size() || (text_[pos] != ':' && text_[pos] != '=')) return 0;
        pos = run_end(text_, pos + 1, [](char c) { return c == ' ' || c == '\t'; });
        const std::size_t end = run_end(text_, pos, [](char c) { return c != '\n' && c != '\r'; });
        return end > pos ? end : 0;
    }

    std::string_view text_;
};

bool scrub_secrets(std::string& text) {
    const SecretScanner scanner(text);
    Rewrite out(text);
    std::size_t i = 0;
    while (i < text.size()) {
        // Secrets start a word: "xghp_…" or "my-AKIA…" are not looked at.
        if (i > 0 && (is_base64url(text[i - 1]) || text[i - 1] == '.')) {
            ++i;
            continue;
        }
        const std::size_t end = scanner.match(i);
        if (end == 0) {
            ++i;
            continue;
        }
        out.replace(scanner.keep_until(i), end, "<secret>");
        i = end;
    }
    return out.finish(text);
}

/// Separators around a home directory's name: '/' and '\' (also doubled, as in JSON or C strings).
bool is_path_separator(char c) { return c == '/' || c == '\\'; }

/// Other people's home directories: `/home/<x>`, `/Users/<x>`, `C:\Users\<x>` (any case, '/' or
/// '\' separators) -> the name becomes `<user>`. Shared folders that name no one stay.
bool scrub_home_directories(std::string& text) {
    static constexpr std::array<std::string_view, 6> kNobody = {"shared",       "public",    "default",
                                                                "default user", "all users", "guest"};
    Rewrite out(text);
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_path_separator(text[i])) {
            ++i;
            continue;
        }
        const std::size_t word = run_end(text, i, is_path_separator);
        std::size_t after = word;
        if (at_ci(text, word, "home")) {
            after = word + 4;
        } else if (at_ci(text, word, "users")) {
            after = word + 5;
        } else {
            i = word;
            continue;
        }
        const std::size_t name = run_end(text, after, is_path_separator);
        if (name == after || name == text.size()) {
            i = after;
            continue;
        }
        // The name: up to the next separator or a character no file name has; spaces only inside
        // a component that a separator ends ("C:\Users\Jane Doe\x", not "/home/jane and more").
        const auto is_name = [](char c) {
            return !is_path_separator(c) && static_cast<unsigned char>(c) >= 0x20 &&
                   std::string_view("\"'<>|:*?;,`").find(c) == std::string_view::npos;
        };
        std::size_t end = run_end(text, name, is_name);
        if (end == text.size() || !is_path_separator(text[end])) {
            end = run_end(text, name, [&](char c) { return is_name(c) && c != ' ' && c != '\t'; });
        }
        while (end > name && text[end - 1] == ' ') --end;
        std::string folded;
        for (std::size_t k = name; k < end && folded.size() <= 12; ++k) folded.push_back(lower(text[k]));
        const bool nobody = std::find(kNobody.begin(), kNobody.end(), folded) != kNobody.end();
        if (end > name && !nobody) out.replace(name, end, "<user>");
        i = end > name ? end : name;
    }
    return out.finish(text);
}

/// E-mail addresses: a run of local-part characters, '@', a domain with a dot.
bool scrub_emails(std::string& text) {
    Rewrite out(text);
    std::size_t at = text.find('@');
    while (at != std::string::npos) {
        std::size_t begin = at;
        while (begin > out.copied() && is_email_local(text[begin - 1])) --begin;
        std::size_t end = run_end(text, at + 1, is_email_domain);
        while (end > at + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) --end;
        const std::string_view domain(text.data() + at + 1, end - at - 1);
        const auto dot = domain.find('.');
        if (begin < at && dot != std::string_view::npos && dot > 0 && dot + 1 < domain.size()) {
            out.replace(begin, end, "<email>");
            at = text.find('@', end);
        } else {
            at = text.find('@', at + 1);
        }
    }
    return out.finish(text);
}

/// MAC addresses: six hex pairs joined by ':' or '-' (the same one throughout).
bool scrub_macs(std::string& text) {
    static constexpr std::size_t kLength = 17;
    Rewrite out(text);
    std::size_t i = 0;
    while (i + kLength <= text.size()) {
        const char sep = text[i + 2];
        bool mac = (sep == ':' || sep == '-') && (i == 0 || !(is_alnum(text[i - 1]) || text[i - 1] == sep));
        for (std::size_t group = 0; mac && group < 6; ++group) {
            const std::size_t at = i + group * 3;
            mac = is_hex(text[at]) && is_hex(text[at + 1]) && (group == 5 || text[at + 2] == sep);
        }
        const std::size_t end = i + kLength;
        if (mac && (end == text.size() || !(is_alnum(text[end]) || text[end] == sep))) {
            out.replace(i, end, "<mac>");
            i = end;
        } else {
            ++i;
        }
    }
    return out.finish(text);
}

bool valid_ipv6(std::string_view text) {
    if (text.size() > INET6_ADDRSTRLEN || std::count(text.begin(), text.end(), ':') < 2) return false;
    const std::string copy(text);
    in6_addr addr{};
    return inet_pton(AF_INET6, copy.c_str(), &addr) == 1;
}

/// IPv6 addresses: runs of [0-9a-fA-F:.] with two colons, not glued to letters or digits
/// ('_' may glue: `host_fe80::1`), checked with inet_pton (so `12:30:00` stays).
bool scrub_ipv6(std::string& text) {
    Rewrite out(text);
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_address_char(text[i])) {
            ++i;
            continue;
        }
        const std::size_t end = run_end(text, i, is_address_char);
        std::size_t last = end;
        while (last > i && text[last - 1] == '.') --last;  // the end of a sentence
        const bool bounded = (i == 0 || !is_alnum(text[i - 1])) && (end == text.size() || !is_alnum(text[end]));
        if (bounded && valid_ipv6(std::string_view(text.data() + i, last - i))) out.replace(i, last, "<ip>");
        i = end;
    }
    return out.finish(text);
}

/// IPv4 addresses: four decimal parts of 0-255 joined by dots. Letters and '_' may glue on either
/// side (`host_10.0.0.1`, `10.0.0.1.nip.io`, `10.0.0.1abc`); a digit or a dotted number may not, so
/// `1.2.3.4.5` and `999.1.1.1` stay.
bool scrub_ipv4(std::string& text) {
    Rewrite out(text);
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_digit(text[i]) || (i > 0 && (is_digit(text[i - 1]) || text[i - 1] == '.'))) {
            ++i;
            continue;
        }
        std::size_t pos = i;
        bool address = true;
        for (int part = 0; address && part < 4; ++part) {
            if (part > 0) {
                address = pos < text.size() && text[pos] == '.';
                ++pos;
            }
            const std::size_t end = address ? run_end(text, pos, is_digit) : pos;
            address = address && end > pos && end - pos <= 3 && std::stoi(text.substr(pos, end - pos)) <= 255;
            pos = end;
        }
        const bool more = pos < text.size() && (is_digit(text[pos]) ||
                                                (text[pos] == '.' && pos + 1 < text.size() && is_digit(text[pos + 1])));
        if (address && !more) {
            out.replace(i, pos, "<ip>");
            i = pos;
        } else {
            i = run_end(text, i, is_digit);
        }
    }
    return out.finish(text);
}

}  // namespace

void truncate_utf8(std::string& text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return;
    std::size_t cut = max_bytes;
    // Step back over continuation bytes (10xxxxxx) so a multi-byte sequence is never split.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text.resize(cut);
}

bool cut_value(std::string& text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return false;
    const auto separator = [](char c) {
        return is_space(c) || std::string_view("/\\,;|\"'`()[]{}<>=&").find(c) != std::string_view::npos;
    };
    // Whether the cut goes through a word: then the word is dropped, since a cut-off word can look
    // like something identifying (`/home/alicex` -> `/home/alice`) or hide the part of it that
    // made a rule match (`alice@exa`, `192.168.1`).
    const bool through_word = !separator(text[max_bytes]);
    truncate_utf8(text, max_bytes);
    if (through_word) {
        std::size_t keep = text.size();
        while (keep > 0 && !separator(text[keep - 1])) --keep;
        text.resize(keep);
    }
    return true;
}

Scrubber::Scrubber(std::string home, std::string user) : home_(std::move(home)), user_(std::move(user)) {
    while (home_.size() > 1 && home_.back() == '/') home_.pop_back();
    if (home_ == "/") home_.clear();  // "/" would turn every absolute path into "~"
    for (char& c : home_) c = lower(c);
    for (char& c : user_) c = lower(c);
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

/// The agent user's home directory (any case: macOS and Windows file systems ignore it) -> `~`.
/// A match must end a path component: `/home/al` never matches inside `/home/alice`.
bool Scrubber::replace_home(std::string& text) const {
    if (home_.empty()) return false;
    Rewrite out(text);
    std::size_t pos = text.find(home_[0]);
    while (pos != std::string::npos) {
        const std::size_t end = pos + home_.size();
        const auto component_end = [&] {
            return end == text.size() || !(is_word(text[end]) || text[end] == '-' || text[end] == '.');
        };
        if (at_ci(text, pos, home_) && component_end()) {
            out.replace(pos, end, "~");
            pos = text.find(home_[0], end);
        } else {
            pos = text.find(home_[0], pos + 1);
        }
    }
    return out.finish(text);
}

/// The agent user's login name as a whole word, in any case -> `<user>`; the tokens of earlier
/// passes are skipped (a login name "user" must not turn `<user>` into `<<user>>`).
bool Scrubber::replace_user(std::string& text) const {
    if (user_.empty()) return false;
    Rewrite out(text);
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == '<') {
            if (const std::size_t token = token_at(text, i); token > 0) {
                i += token;
                continue;
            }
        }
        const std::size_t end = i + user_.size();
        if (lower(text[i]) == user_[0] && at_ci(text, i, user_) && (i == 0 || !is_word(text[i - 1])) &&
            (end == text.size() || !is_word(text[end]))) {
            out.replace(i, end, "<user>");
            i = end;
        } else {
            ++i;
        }
    }
    return out.finish(text);
}

bool Scrubber::scrub(std::string& text) const {
    // One pass to see which scans can matter: most attribute values are short words.
    bool at = false, digit = false, colon = false, dash = false, slash = false;
    for (const char c : text) {
        at |= c == '@';
        digit |= is_digit(c);
        colon |= c == ':';
        dash |= c == '-';
        slash |= c == '/' || c == '\\';
    }
    bool changed = false;
    // Order matters: whole secrets before the e-mail and address passes could take pieces of them,
    // and the home directory before other people's.
    if (dash) changed |= scrub_private_keys(text);
    if (colon && slash) changed |= scrub_url_credentials(text);
    changed |= scrub_secrets(text);
    if (slash) changed |= replace_home(text);
    if (slash) changed |= scrub_home_directories(text);
    if (at) changed |= scrub_emails(text);
    if (colon || dash) changed |= scrub_macs(text);
    if (colon) changed |= scrub_ipv6(text);
    if (digit) changed |= scrub_ipv4(text);
    changed |= replace_user(text);
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
            // Cut first, so the scan's work is bounded; cut again if the replacements made it longer.
            // Each cut drops the word it goes through, so no cut can leave a prefix unscrubbed.
            if (cut_value(value, kMaxStringValueBytes)) result.changed = true;
            if (scrub(value)) result.changed = true;
            cut_value(value, kMaxStringValueBytes);
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

// The three below mirror apply()'s rules one by one: keep them in step.
bool Scrubber::keeps_fields(std::string_view name, std::string_view tool_version) {
    return name.size() <= kMaxEventNameBytes && tool_version.size() <= kMaxToolVersionBytes;
}

bool Scrubber::keeps_key(std::string_view key) { return !key.empty() && key.size() <= kMaxAttributeKeyBytes; }

bool Scrubber::keeps_value(std::string_view value) const {
    if (value.size() > kMaxStringValueBytes) return false;  // cut_value() would cut it
    thread_local std::string copy;  // scrub() works in place; its capacity is kept between calls
    copy.assign(value.data(), value.size());
    return !scrub(copy);
}

}  // namespace tk::agent
