# The Debian package: `cpack -G DEB` in a build dir gives telemetry-kit_<version>_<arch>.deb.
# Included last by the top-level CMakeLists.txt, after every install() rule. docs/packaging.md.
#
# One package with everything `cmake --install` installs: tk, tk-agent, tk-collector,
# libtelemetry_kit.so.*, the headers and CMake package, the agent's systemd user units and the
# reference LaunchAgent plist. Tests, benchmarks and examples have no install() rules, so they
# are not in it.
#
# Privacy: the package enables and starts nothing, for nobody (its only maintainer scripts are
# CPack's ldconfig calls for the library). Each person opts in with `tk service install` (or
# `systemctl --user enable --now telemetry-kit-agent.socket`). Never add a postinst that runs
# `systemctl --global enable` or deb-systemd-helper; tests/package checks there is none.

set(TK_PACKAGE_MAINTAINER "telemetry-kit maintainers <maintainers@users.noreply.b-seed-471329ca.example>"
  CACHE STRING "The Maintainer: of the Debian package (Name <email>)")
set(TK_PACKAGE_HOMEPAGE "https://github.com/telemetry-kit/telemetry-kit"
  CACHE STRING "The Homepage: of the Debian package")

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "telemetry-kit")
set(CPACK_PACKAGE_VENDOR "telemetry-kit")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${TK_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_HOMEPAGE_URL "${TK_PACKAGE_HOMEPAGE}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "privacy-first usage telemetry for CLI tools, libraries and SDKs")
# Strip the installed programs and library (RelWithDebInfo builds carry debug info).
set(CPACK_STRIP_FILES ON)

# The service files are rendered at install time with the prefix CPack installs to; the DEB
# generator installs with CMAKE_INSTALL_PREFIX=/usr (and DESTDIR=its staging dir), so ExecStart=
# says /usr/bin/tk-agent. cmake/TkRenderServiceFile.cmake refuses a staging-dir prefix.
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # telemetry-kit_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_NAME "telemetry-kit")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TK_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION "utils")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${TK_PACKAGE_HOMEPAGE}")
# Depends: computed by dpkg-shlibdeps from the programs' and library's ELF dependencies.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A shlibs file for libtelemetry_kit.so.<major>, and the ldconfig trigger that comes with it.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# The agent runs as a systemd user service where there is one; it runs without one too.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; this is the extended description (lines of
# at most 79 characters; CPack indents them, "." is an empty line).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "telemetry-kit tells the authors of command-line tools which commands and
features are used and which versions are out there, without collecting
anything that identifies a person. A small client library (libtelemetry_kit)
hands events to a per-user agent (tk-agent), which applies DO_NOT_TRACK and
per-tool consent, queues events in SQLite and forwards them in batches to a
collector (tk-collector, over PostgreSQL). `tk` shows what is queued and
manages consent.
.
The agent's systemd user units are installed but not enabled: each user opts
in with `tk service install` or
`systemctl --user enable --now telemetry-kit-agent.socket`.")

# `cpack --config CPackSourceConfig.cmake` / the package_source target: the sources, without
# build trees and VCS data.
set(CPACK_SOURCE_GENERATOR "TGZ")
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/_CPack_Packages/" "\\\\.deb$")

include(CPack)
