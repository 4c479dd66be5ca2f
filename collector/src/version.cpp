#include "tk/collector/version.hpp"
namespace tk::collector {
const char* version() noexcept { return TK_VERSION; }
}  // namespace tk::collector
