# The CBC-based `milp` solver (include/gradrecomp/solvers/milp.h): an optional library, so that
# the planning core never depends on COIN-OR. Built when pkg-config finds CBC
# (Debian: coinor-libcbc-dev); the CLI then links it and defines GRADRECOMP_HAVE_MILP.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(GRADRECOMP_CBC QUIET IMPORTED_TARGET cbc)
endif()

if(NOT GRADRECOMP_CBC_FOUND)
  message(STATUS "gradrecomp: CBC not found (pkg-config module cbc); the milp solver is not built")
  return()
endif()
message(STATUS "gradrecomp: milp solver with CBC ${GRADRECOMP_CBC_VERSION}")

file(GLOB GRADRECOMP_MILP_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/milp/*.cpp)
add_library(gradrecomp_milp STATIC ${GRADRECOMP_MILP_SOURCES})
target_include_directories(gradrecomp_milp PUBLIC include PRIVATE src)
target_link_libraries(gradrecomp_milp PUBLIC gradrecomp_core PRIVATE PkgConfig::GRADRECOMP_CBC fmt::fmt)
target_compile_options(gradrecomp_milp PRIVATE -Wall -Wextra)

target_link_libraries(gradrecomp PRIVATE gradrecomp_milp)
target_compile_definitions(gradrecomp PRIVATE GRADRECOMP_HAVE_MILP)
# Core tests that compare against the exact solver when it is built.
foreach(test_with_milp dag_test)
  if(TARGET ${test_with_milp})
    target_link_libraries(${test_with_milp} PRIVATE gradrecomp_milp)
    target_compile_definitions(${test_with_milp} PRIVATE GRADRECOMP_HAVE_MILP)
  endif()
endforeach()

if(GRADRECOMP_BUILD_TESTS)
  file(GLOB GRADRECOMP_MILP_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/milp/*_test.cpp)
  foreach(test_source ${GRADRECOMP_MILP_TEST_SOURCES})
    get_filename_component(test_name ${test_source} NAME_WE)
    add_executable(${test_name} ${test_source})
    target_include_directories(${test_name} PRIVATE src)  # internal headers of src/milp/
    target_link_libraries(${test_name} PRIVATE gradrecomp_milp gradrecomp_test_support GTest::gtest_main
                                               nlohmann_json::nlohmann_json)
    gtest_discover_tests(${test_name} DISCOVERY_TIMEOUT 60)
  endforeach()
  if(TARGET cli_gap_test)
    add_dependencies(cli_gap_test gradrecomp)  # runs the built CLI
  endif()
endif()

# bench/milp/ (not bench/*_bench.cpp, which cmake/bench.cmake builds without CBC).
if(GRADRECOMP_BUILD_BENCH AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/bench/milp/milp_bench.cpp)
  add_executable(milp_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/milp/milp_bench.cpp)
  target_link_libraries(milp_bench PRIVATE gradrecomp_milp fmt::fmt nlohmann_json::nlohmann_json)
  add_executable(min_peak_bound ${CMAKE_CURRENT_SOURCE_DIR}/bench/milp/min_peak_bound.cpp)
  target_link_libraries(min_peak_bound PRIVATE gradrecomp_milp fmt::fmt)
endif()
