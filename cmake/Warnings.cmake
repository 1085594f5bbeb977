# Long warning list for every moecap target; -Werror unless MOECAP_WERROR=OFF.
set(MC_WARNINGS -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes
    -Wformat=2 -Wundef -Wvla -Wcast-align -Wwrite-strings -Wno-unused-parameter)
if(MOECAP_WERROR)
  list(APPEND MC_WARNINGS -Werror)
endif()
add_compile_options(${MC_WARNINGS})
