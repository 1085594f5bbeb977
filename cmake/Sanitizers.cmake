# MOECAP_SANITIZE="address;undefined" (the asan preset) or "thread" (the tsan preset).
if(MOECAP_SANITIZE)
  string(REPLACE ";" "," _san "${MOECAP_SANITIZE}")
  add_compile_options(-fsanitize=${_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_san})
endif()
# MOECAP_FUZZ=ON (clang): every target gets libFuzzer's coverage instrumentation, so the fuzz
# targets see the edges inside the libraries they call, not only in tests/fuzz/fuzz_*.c.
if(MOECAP_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
  add_link_options(-fsanitize=fuzzer-no-link)
endif()
