# MOECAP_SANITIZE="address;undefined" (the asan preset) or "thread" (the tsan preset).
if(MOECAP_SANITIZE)
  string(REPLACE ";" "," _san "${MOECAP_SANITIZE}")
  add_compile_options(-fsanitize=${_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_san})
endif()
