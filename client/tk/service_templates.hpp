#pragma once
// The service-file templates (systemd/*.in, launchd/*.in), compiled into tk by
// tk_embed_text (client/tk/CMakeLists.txt), so an installed tk needs no data files.

#include <string_view>

namespace tk::cli::templates {

std::string_view systemd_socket();
std::string_view systemd_service();
std::string_view launchd_plist();

}  // namespace tk::cli::templates
