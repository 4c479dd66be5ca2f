#pragma once
/// Scrubbing and bounding of what a tool sends, before it is stored (docs/privacy.md):
/// home paths -> `~`, the user's login name -> `<user>`, e-mail addresses -> `<email>`,
/// IPv4/IPv6 addresses -> `<ip>`; at most 64 attributes, keys of at most 64 bytes, string values
/// of at most 1024 bytes, event names of at most 128 bytes.

#include <cstddef>
#include <string>

#include "telemetry_kit/v1/event.pb.h"

namespace tk::agent {

inline constexpr std::size_t kMaxAttributes = 64;
inline constexpr std::size_t kMaxAttributeKeyBytes = 64;
inline constexpr std::size_t kMaxStringValueBytes = 1024;
inline constexpr std::size_t kMaxEventNameBytes = 128;
inline constexpr std::size_t kMaxToolVersionBytes = 64;

class Scrubber {
public:
    /// `home` is the user's home directory, `user` their login name; either may be empty.
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

private:
    void replace_home(std::string& text, bool& changed) const;
    void replace_user(std::string& text, bool& changed) const;

    std::string home_;
    std::string user_;
};

/// Truncates `text` to at most `max_bytes`, never splitting a UTF-8 sequence.
void truncate_utf8(std::string& text, std::size_t max_bytes);

}  // namespace tk::agent
