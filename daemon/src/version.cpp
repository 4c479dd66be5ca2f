#include "tk/agent/version.hpp"
namespace tk::agent {
const char* version() noexcept { return TK_VERSION; }
}  // namespace tk::agent
