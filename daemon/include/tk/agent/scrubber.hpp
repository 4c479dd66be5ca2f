#pragma once
/// Scrubbing and bounding of what a tool sends, before it is stored (docs/privacy.md, section 3,
/// lists every rule): private keys, credentials in URLs, secret tokens, home directories, e-mail,
/// MAC and IP addresses, the login name; at most 64 attributes, keys of at most 64 bytes, string
/// values of at most 1024 bytes, event names of at most 128 bytes. Linear in the value's size.

#include <cstddef>
#include <string>
#include <string_view>

#include "telemetry_kit/v1/event.pb.h"

namespace tk::agent {

inline constexpr std::size_t kMaxAttributes = 64;
inline constexpr std::size_t kMaxAttributeKeyBytes = 64;
inline constexpr std::size_t kMaxStringValueBytes = 1024;
inline constexpr std::size_t kMaxEventNameBytes = 128;
inline constexpr std::size_t kMaxToolVersionBytes = 64;

class Scrubber {
public:
    /// `home` is the user's home directory, `user` their login name; either may be empty. Both are
    /// matched in any case.
    Scrubber(std::string home, std::string user);
    /// From $HOME and the password database of the agent's own user.
    static Scrubber for_current_user();

    /// Replaces what identifies a person in `text`. Returns true if anything changed.
    bool scrub(std::string& text) const;

    struct Result {
        std::size_t dropped_attributes = 0;
        bool changed = false;  ///< anything at all was scrubbed, truncated or dropped
    };
    /// Bounds the event and scrubs its attribute strings.
    Result apply(telemetry_kit::v1::Event& event) const;

    /// What apply() would leave as it is, asked of an event's raw bytes (the intake's hot path,
    /// which does not parse an event it can store as received): the name and tool version within
    /// their bounds; an attribute key within its bounds; a string attribute value neither cut nor
    /// scrubbed. The event's attribute count is the caller's to check (at most kMaxAttributes).
    static bool keeps_fields(std::string_view name, std::string_view tool_version);
    static bool keeps_key(std::string_view key);
    bool keeps_value(std::string_view value) const;

private:
    bool replace_home(std::string& text) const;
    bool replace_user(std::string& text) const;

    std::string home_;
    std::string user_;
};

/// Truncates `text` to at most `max_bytes`, never splitting a UTF-8 sequence.
void truncate_utf8(std::string& text, std::size_t max_bytes);

/// Cuts a string value longer than `max_bytes` to at most that, dropping the word the cut goes
/// through (back to white space or punctuation such as `/ , ; = "`). Returns true if it cut.
bool cut_value(std::string& text, std::size_t max_bytes);

}  // namespace tk::agent
