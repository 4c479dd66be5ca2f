#pragma once
namespace tk::agent {
const char* version() noexcept;
}
