# ctest test of the install rules: `cmake --install` of the build tree into a fresh temporary
# prefix, then the files where docs/development.md, "Build" says they are, and the installed binary runs:
# `--version` prints the project's version and `validate` accepts an installed example.
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DVERSION=... -DBINDIR=bin -DDOCDIR=share/doc/reachprobe
#         -DPREFIX=... -P install_test.cmake
foreach(var BUILD_DIR SOURCE_DIR VERSION BINDIR DOCDIR PREFIX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_test.cmake needs -D${var}=...")
  endif()
endforeach()

file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${status}):\n${out}")
endif()

set(binary "${PREFIX}/${BINDIR}/reachprobe")
if(NOT EXISTS "${binary}" OR IS_DIRECTORY "${binary}")
  message(FATAL_ERROR "not installed: ${binary}\n${out}")
endif()
file(GLOB example_configs RELATIVE "${SOURCE_DIR}/config" "${SOURCE_DIR}/config/*.yaml")
if(NOT example_configs)
  message(FATAL_ERROR "no example configs in ${SOURCE_DIR}/config")
endif()
foreach(name ${example_configs})
  set(installed "${PREFIX}/${DOCDIR}/examples/${name}")
  if(NOT EXISTS "${installed}")
    message(FATAL_ERROR "not installed: ${installed}")
  endif()
  file(SHA256 "${SOURCE_DIR}/config/${name}" want)
  file(SHA256 "${installed}" got)
  if(NOT want STREQUAL got)
    message(FATAL_ERROR "${installed} differs from config/${name}")
  endif()
endforeach()
# Nothing else: a test binary or a header in the prefix would be an install rule too many.
file(GLOB_RECURSE installed_files RELATIVE "${PREFIX}" "${PREFIX}/*")
list(LENGTH example_configs config_count)
list(LENGTH installed_files installed_count)
math(EXPR expected_count "${config_count} + 1")
if(NOT installed_count EQUAL expected_count)
  message(FATAL_ERROR "expected ${expected_count} installed files, got: ${installed_files}")
endif()

execute_process(COMMAND "${binary}" --version RESULT_VARIABLE status OUTPUT_VARIABLE out
                ERROR_VARIABLE out TIMEOUT 30)
if(NOT status EQUAL 0 OR NOT out MATCHES "${VERSION}")
  message(FATAL_ERROR "installed `reachprobe --version` exited ${status}, wanted ${VERSION}:\n${out}")
endif()
execute_process(COMMAND "${binary}" validate --config "${PREFIX}/${DOCDIR}/examples/local.yaml"
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 30)
if(NOT status EQUAL 0 OR NOT out MATCHES "^ok")
  message(FATAL_ERROR "installed `reachprobe validate` of the installed local.yaml exited ${status}:\n${out}")
endif()
file(REMOVE_RECURSE "${PREFIX}")
message(STATUS "installed and ran: ${binary}, ${config_count} example configs")
