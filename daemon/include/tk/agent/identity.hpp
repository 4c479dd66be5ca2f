#pragma once
/// The install secret and the per-tool anonymous ids derived from it (docs/privacy.md).

#include <cstdint>
#include <filesystem>
#include <string>

namespace tk::agent {

/// Reads the install secret (32 random bytes, mode 0600), making it on first start.
/// Throws std::runtime_error if it cannot be read or made.
std::string load_or_create_install_secret(const std::filesystem::path& file);

/// The tool's anonymous id: hex of HMAC-SHA256(secret, "tool-id:" + tool + ":" + generation),
/// truncated to 16 bytes (32 hex digits). Two tools' ids cannot be linked without the secret;
/// `tk forget` bumps the generation, which rotates the id.
std::string anonymous_id(const std::string& secret, const std::string& tool, std::uint64_t generation);

}  // namespace tk::agent
