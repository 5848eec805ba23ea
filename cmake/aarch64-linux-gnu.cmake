# Cross-compiling for linux/arm64 with Debian's aarch64 toolchain (crossbuild-essential-arm64)
# against a sysroot of Debian's arm64 -dev packages (scripts/image-arm64.sh makes it with
# mmdebstrap, so no :arm64 package is installed on the build machine: prometheus-cpp-dev and
# libyaml-cpp-dev are not multi-arch and would replace the amd64 ones).
#   REACHPROBE_ARM64_SYSROOT=DIR cmake -S . -B build-arm64 \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DREACHPROBE_BUILD_TESTS=OFF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# An environment variable, not a cache one: CMake reads this file again for every
# try_compile, where only the environment is passed on.
if(NOT DEFINED ENV{REACHPROBE_ARM64_SYSROOT})
  message(FATAL_ERROR "REACHPROBE_ARM64_SYSROOT: the arm64 sysroot (scripts/image-arm64.sh)")
endif()
set(CMAKE_SYSROOT "$ENV{REACHPROBE_ARM64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config (c-ares) looks only at the sysroot's .pc files, and prefixes their paths with it.
set(ENV{PKG_CONFIG_DIR} "")
set(ENV{PKG_CONFIG_LIBDIR}
    "${CMAKE_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${CMAKE_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${CMAKE_SYSROOT}")
# Programs built for arm64 run under qemu-user (qemu-user-static), with the sysroot's libraries.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L "${CMAKE_SYSROOT}")
