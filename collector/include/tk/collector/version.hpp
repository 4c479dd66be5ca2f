#pragma once
namespace tk::collector {
const char* version() noexcept;
}
