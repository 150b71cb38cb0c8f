# libFuzzer targets (fuzz/*_fuzzer.cpp), built only with GRADRECOMP_BUILD_FUZZERS=ON and clang.
# The planning core is compiled a second time with coverage instrumentation and sanitizers
# (gradrecomp_core_fuzz), so the regular core and its tests stay uninstrumented.
# scripts/fuzz.sh configures build-fuzz this way and runs every fuzzer for a bounded time.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(WARNING "GRADRECOMP_BUILD_FUZZERS needs clang (the C++ compiler is ${CMAKE_CXX_COMPILER_ID}); "
                  "configure with CXX=clang++. No fuzzers are built.")
  return()
endif()

set(GRADRECOMP_FUZZ_COMPILE_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer -g)
set(GRADRECOMP_FUZZ_LINK_FLAGS -fsanitize=fuzzer,address,undefined)

add_library(gradrecomp_core_fuzz STATIC ${GRADRECOMP_CORE_SOURCES})
target_include_directories(gradrecomp_core_fuzz PUBLIC ${PROJECT_SOURCE_DIR}/include PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(gradrecomp_core_fuzz PRIVATE nlohmann_json::nlohmann_json PUBLIC fmt::fmt)
target_compile_options(gradrecomp_core_fuzz PRIVATE ${GRADRECOMP_FUZZ_COMPILE_FLAGS})

file(GLOB GRADRECOMP_FUZZ_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fuzz/*_fuzzer.cpp)
set(GRADRECOMP_FUZZERS)
foreach(fuzz_source ${GRADRECOMP_FUZZ_SOURCES})
  get_filename_component(fuzz_name ${fuzz_source} NAME_WE)
  add_executable(${fuzz_name} ${fuzz_source})
  target_link_libraries(${fuzz_name} PRIVATE gradrecomp_core_fuzz nlohmann_json::nlohmann_json)
  target_compile_options(${fuzz_name} PRIVATE ${GRADRECOMP_FUZZ_COMPILE_FLAGS})
  target_link_options(${fuzz_name} PRIVATE ${GRADRECOMP_FUZZ_LINK_FLAGS})
  list(APPEND GRADRECOMP_FUZZERS ${fuzz_name})
endforeach()
add_custom_target(fuzzers DEPENDS ${GRADRECOMP_FUZZERS})
