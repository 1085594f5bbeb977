# Long warning list for every moecap target; -Werror unless MOECAP_WERROR=OFF.
set(MC_WARNINGS -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes
    -Wformat=2 -Wundef -Wvla -Wcast-align -Wwrite-strings -Wno-unused-parameter)
if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
  # gcc's -Wcast-align is silent on x86; clang flags every char* -> T* cast of packed GGUF
  # block data, which the kernels read with unaligned loads by design.
  list(APPEND MC_WARNINGS -Wno-cast-align)
endif()
if(MOECAP_WERROR)
  list(APPEND MC_WARNINGS -Werror)
endif()
add_compile_options(${MC_WARNINGS})
