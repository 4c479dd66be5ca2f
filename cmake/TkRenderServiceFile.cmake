# Runs at install time (cmake --install, cpack), included by the code tk_install_service_file()
# (cmake/TkServiceFiles.cmake) puts into cmake_install.cmake. Inputs: TK_SF_TEMPLATE, TK_SF_NAME,
# TK_SF_DESTINATION, TK_SF_BINDIR, TK_SF_QUOTING (systemd|xml), TK_SF_STAGING, TK_SF_NAMES and
# TK_SF_VALUE_<name>. Included, not called as a function, so file(INSTALL) records the file in
# the install manifest (install_manifest.txt).

# The prefix of THIS install: `cmake --install --prefix X` sets it to X; CPack's DEB generator sets
# it to CPACK_PACKAGING_INSTALL_PREFIX (/usr) and stages through DESTDIR.
set(tk_sf_prefix "${CMAKE_INSTALL_PREFIX}")
if(tk_sf_prefix MATCHES "/_CPack_Packages/")
  # Archive generators (TGZ, ZIP, ...) install into their staging dir and produce a relocatable
  # tree: there is no absolute path to write into ExecStart=. Only DEB (and RPM) know theirs.
  message(FATAL_ERROR "telemetry-kit: the service files need the final install prefix, but this "
    "install goes to CPack's staging dir ${tk_sf_prefix} (an archive generator?). Build the .deb "
    "(cpack -G DEB) or set CPACK_SET_DESTDIR=ON with CPACK_INSTALL_PREFIX.")
endif()

if(IS_ABSOLUTE "${TK_SF_BINDIR}")
  set(tk_sf_agent "${TK_SF_BINDIR}/tk-agent")
else()
  set(tk_sf_agent "${tk_sf_prefix}/${TK_SF_BINDIR}/tk-agent")
endif()
if(IS_ABSOLUTE "${TK_SF_DESTINATION}")
  set(tk_sf_destination "${TK_SF_DESTINATION}")
else()
  set(tk_sf_destination "${tk_sf_prefix}/${TK_SF_DESTINATION}")
endif()

# The agent's path as the file format needs it (the same rules as `tk service install`).
if(TK_SF_QUOTING STREQUAL "systemd")
  # `%` is a specifier in unit files; a path with blanks, quotes or backslashes is double-quoted.
  string(REPLACE "%" "%%" tk_sf_agent_text "${tk_sf_agent}")
  if(tk_sf_agent_text MATCHES "[ \t\"'\\\\]")
    string(REPLACE "\\" "\\\\" tk_sf_agent_text "${tk_sf_agent_text}")
    string(REPLACE "\"" "\\\"" tk_sf_agent_text "${tk_sf_agent_text}")
    set(tk_sf_agent_text "\"${tk_sf_agent_text}\"")
  endif()
elseif(TK_SF_QUOTING STREQUAL "xml")
  string(REPLACE "&" "&amp;" tk_sf_agent_text "${tk_sf_agent}")
  string(REPLACE "<" "&lt;" tk_sf_agent_text "${tk_sf_agent_text}")
  string(REPLACE ">" "&gt;" tk_sf_agent_text "${tk_sf_agent_text}")
  string(REPLACE "\"" "&quot;" tk_sf_agent_text "${tk_sf_agent_text}")
else()
  message(FATAL_ERROR "telemetry-kit: unknown quoting '${TK_SF_QUOTING}' for ${TK_SF_NAME}")
endif()

file(READ "${TK_SF_TEMPLATE}" tk_sf_text)
string(REPLACE "@TK_AGENT_PATH@" "${tk_sf_agent_text}" tk_sf_text "${tk_sf_text}")
foreach(tk_sf_key IN LISTS TK_SF_NAMES)
  string(REPLACE "@${tk_sf_key}@" "${TK_SF_VALUE_${tk_sf_key}}" tk_sf_text "${tk_sf_text}")
endforeach()
if(tk_sf_text MATCHES "@[A-Za-z_][A-Za-z0-9_]*@")
  message(FATAL_ERROR "telemetry-kit: ${CMAKE_MATCH_0} is left in ${TK_SF_NAME} (from ${TK_SF_TEMPLATE}); "
    "the install rules in its CMakeLists.txt give it no value")
endif()

# Rendered into the build tree first (one dir per destination, so a `cmake --install` and a cpack
# run at the same time do not write the same file), then installed with file(INSTALL): that honours
# DESTDIR, prints "-- Installing:" and appends to the install manifest like any install() rule.
string(MD5 tk_sf_key "$ENV{DESTDIR}|${tk_sf_destination}")
set(tk_sf_staged "${TK_SF_STAGING}/${tk_sf_key}/${TK_SF_NAME}")
file(WRITE "${tk_sf_staged}" "${tk_sf_text}")
file(INSTALL DESTINATION "${tk_sf_destination}" TYPE FILE
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
  FILES "${tk_sf_staged}")
