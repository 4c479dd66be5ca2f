// The install secret (made once, 0600, never sent) and the per-tool anonymous ids derived from it.
#include "tk/agent/identity.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "tk/common/hex.hpp"
#include "tk/common/unique_fd.hpp"

namespace tk::agent {

namespace {
constexpr std::size_t kSecretBytes = 32;

std::runtime_error error(const std::string& what, const std::filesystem::path& file) {
    return std::runtime_error(what + " " + file.string() + ": " + std::strerror(errno));
}
}  // namespace

std::string load_or_create_install_secret(const std::filesystem::path& file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd && errno == ENOENT) {
        unsigned char bytes[kSecretBytes];
        if (RAND_bytes(bytes, sizeof bytes) != 1)
            throw std::runtime_error("cannot make random bytes for the install secret");
        // Write to a temp file and link it into place, so two agents racing on first start agree.
        const auto temp = file.string() + ".new." + std::to_string(::getpid());
        bool written = false;
        {
            const UniqueFd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
            if (!out) throw error("cannot create", temp);
            written = ::write(out.get(), bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes) &&
                      ::fsync(out.get()) == 0;
        }
        if (!written) {
            ::unlink(temp.c_str());
            throw error("cannot write", temp);
        }
        const int linked = ::link(temp.c_str(), file.c_str());
        ::unlink(temp.c_str());
        if (linked != 0 && errno != EEXIST) throw error("cannot create", file);
        fd.reset(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    }
    if (!fd) throw error("cannot open", file);
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && (st.st_mode & 0077) != 0) ::fchmod(fd.get(), 0600);
    std::string secret(kSecretBytes, '\0');
    const ssize_t got = ::read(fd.get(), secret.data(), secret.size());
    if (got != static_cast<ssize_t>(kSecretBytes)) {
        throw std::runtime_error("install secret " + file.string() +
                                 " is damaged (expected 32 bytes); delete it to make a new one");
    }
    return secret;
}

std::string anonymous_id(const std::string& secret, const std::string& tool, std::uint64_t generation) {
    const std::string message = "tool-id:" + tool + ":" + std::to_string(generation);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
    // The first 128 bits of the HMAC are plenty to keep tools apart, and fit a uuid-sized column.
    return to_hex(std::string_view(reinterpret_cast<const char*>(digest), std::min(length, 16u)));
}

}  // namespace tk::agent
