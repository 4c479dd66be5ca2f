# tk_install_service_file(<template.in> DESTINATION <dir> QUOTING systemd|xml COMPONENT <component>
#                         [VALUES <NAME> <value> [<NAME> <value>...]])
#
# Installs <template.in> (without its .in) into <dir>, rendered AT INSTALL TIME: @TK_AGENT_PATH@
# becomes the installed tk-agent, <prefix>/<bindir>/tk-agent, where <prefix> is the prefix of that
# install — `cmake --install --prefix X`, or the package's /usr under CPack — not the
# CMAKE_INSTALL_PREFIX the build was configured with. Every other @NAME@ gets its value from VALUES
# (an empty value is fine: the placeholder disappears). A relative <dir> is relative to the prefix.
# The install fails if any @NAME@ is left in the rendered text.
#
# The same templates are compiled into `tk` (client/tk), which renders them per user for
# `tk service install`; the quoting rules here are the same as there.
set(TK_RENDER_SERVICE_FILE_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/TkRenderServiceFile.cmake)

function(tk_install_service_file template)
  # PARSE_ARGV keeps empty values (TK_ENVIRONMENT "").
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "DESTINATION;QUOTING;COMPONENT" "VALUES")
  if(NOT ARG_DESTINATION OR NOT ARG_QUOTING OR NOT ARG_COMPONENT)
    message(FATAL_ERROR "tk_install_service_file(${template}): DESTINATION, QUOTING and COMPONENT are required")
  endif()
  get_filename_component(template ${template} ABSOLUTE)
  get_filename_component(name ${template} NAME)
  string(REGEX REPLACE "\\.in$" "" name "${name}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${template})

  # Values are passed into the install script as bracket arguments, so any text survives.
  set(code "set(TK_SF_TEMPLATE [==[${template}]==])\n")
  string(APPEND code "set(TK_SF_NAME [==[${name}]==])\n")
  string(APPEND code "set(TK_SF_DESTINATION [==[${ARG_DESTINATION}]==])\n")
  string(APPEND code "set(TK_SF_BINDIR [==[${CMAKE_INSTALL_BINDIR}]==])\n")
  string(APPEND code "set(TK_SF_QUOTING [==[${ARG_QUOTING}]==])\n")
  string(APPEND code "set(TK_SF_STAGING [==[${CMAKE_CURRENT_BINARY_DIR}/rendered]==])\n")
  # Made now, by whoever configures: if a `sudo cmake --install` made it, a later unprivileged
  # install or cpack could not add its own subdirectory.
  file(MAKE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}/rendered")
  set(names "")
  list(LENGTH ARG_VALUES count)
  if(count GREATER 0)
    math(EXPR last "${count} - 1")
    foreach(i RANGE 0 ${last} 2)
      math(EXPR j "${i} + 1")
      list(GET ARG_VALUES ${i} key)
      if(j GREATER last)
        message(FATAL_ERROR "tk_install_service_file(${template}): VALUES ${key} has no value")
      endif()
      list(GET ARG_VALUES ${j} value)
      list(APPEND names ${key})
      string(APPEND code "set(TK_SF_VALUE_${key} [==[${value}]==])\n")
    endforeach()
  endif()
  string(APPEND code "set(TK_SF_NAMES [==[${names}]==])\n")
  string(APPEND code "include([==[${TK_RENDER_SERVICE_FILE_SCRIPT}]==])\n")
  install(CODE "${code}" COMPONENT ${ARG_COMPONENT})
endfunction()
