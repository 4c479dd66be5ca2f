# Sourced by the build scripts: use ccache (Debian's package) when it is installed. CI runs on a
# machine that keeps its cache between runs, so an unchanged file is not compiled again; paths are
# taken relative to the checkout so that a fresh clone in another folder hits the same entries.
# Sets CMAKE_LAUNCHER (an array of -D options for cmake, empty without ccache).
CMAKE_LAUNCHER=()
if command -v ccache >/dev/null 2>&1 && [ "${TK_CCACHE:-1}" = "1" ]; then
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
  CMAKE_LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
