# gradrecomp_torch: the LibTorch adapter (checkpoint(), memory tracker), its tests and benchmark.
#
# Builds against Debian's libtorch-dev (1.13, CPU) or the LibTorch of a PyTorch 2.x installation
# (-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')).
# Without LibTorch it only says so: the planning core never depends on torch.
find_package(Torch QUIET)
if(NOT Torch_FOUND)
  message(STATUS "gradrecomp_torch: LibTorch not found (set CMAKE_PREFIX_PATH to enable the adapter)")
  return()
endif()
message(STATUS "gradrecomp_torch: LibTorch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX}")

# The core is compiled with the default libstdc++ ABI. LibTorch wheels built with the old ABI
# (-D_GLIBCXX_USE_CXX11_ABI=0, PyTorch < 2.7) cannot exchange std::string with it, so in that case
# the torch target gets its own copy of the core compiled with torch's flags and header-only fmt.
set(_gradrecomp_torch_core gradrecomp_core)
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  message(STATUS "gradrecomp_torch: LibTorch uses the pre-C++11 string ABI; building a matching core copy")
  find_package(fmt REQUIRED)
  add_library(gradrecomp_core_torch_abi STATIC ${GRADRECOMP_CORE_SOURCES})
  target_include_directories(gradrecomp_core_torch_abi PUBLIC include PRIVATE src)
  target_compile_options(gradrecomp_core_torch_abi PUBLIC -D_GLIBCXX_USE_CXX11_ABI=0)
  target_link_libraries(gradrecomp_core_torch_abi PRIVATE nlohmann_json::nlohmann_json
                        PUBLIC fmt::fmt-header-only)
  set(_gradrecomp_torch_core gradrecomp_core_torch_abi)
endif()

file(GLOB GRADRECOMP_TORCH_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/torch/*.cpp)
add_library(gradrecomp_torch STATIC ${GRADRECOMP_TORCH_SOURCES})
target_include_directories(gradrecomp_torch PUBLIC include PRIVATE src)
target_link_libraries(gradrecomp_torch PUBLIC ${_gradrecomp_torch_core} ${TORCH_LIBRARIES})
target_compile_options(gradrecomp_torch PRIVATE -Wall -Wextra)
# CUDA paths (caching-allocator statistics) are compiled only where LibTorch was built with CUDA;
# TorchConfig.cmake finds c10_cuda exactly in that case.
if(C10_CUDA_LIBRARY)
  target_compile_definitions(gradrecomp_torch PUBLIC GRADRECOMP_TORCH_CUDA=1)
  message(STATUS "gradrecomp_torch: CUDA build of LibTorch, CUDA statistics enabled")
endif()
# Torch headers cost ~20 s per translation unit: precompile them once and reuse the PCH.
target_precompile_headers(gradrecomp_torch PRIVATE <torch/torch.h>)
# compare.h hands its report out as nlohmann::json (header-only).
target_link_libraries(gradrecomp_torch PUBLIC nlohmann_json::nlohmann_json)

# `gradrecomp compare` (tools/gradrecomp/torch/): its own library, compiled with the torch PCH, linked
# into the CLI. Without LibTorch (or with an old-ABI LibTorch, which the CLI's default-ABI objects
# cannot call) the CLI keeps tools/gradrecomp/cmd_compare_unavailable.cpp, which says so.
if(TARGET gradrecomp AND _gradrecomp_torch_core STREQUAL "gradrecomp_core")
  file(GLOB GRADRECOMP_CLI_TORCH_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tools/gradrecomp/torch/*.cpp)
  add_library(gradrecomp_cli_torch STATIC ${GRADRECOMP_CLI_TORCH_SOURCES})
  target_include_directories(gradrecomp_cli_torch PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/tools/gradrecomp)
  target_link_libraries(gradrecomp_cli_torch PUBLIC gradrecomp_torch PRIVATE CLI11::CLI11 fmt::fmt)
  target_compile_options(gradrecomp_cli_torch PRIVATE -Wall -Wextra)
  target_precompile_headers(gradrecomp_cli_torch REUSE_FROM gradrecomp_torch)
  target_link_libraries(gradrecomp PRIVATE gradrecomp_cli_torch)
  target_compile_definitions(gradrecomp PRIVATE GRADRECOMP_HAVE_TORCH_CLI=1)
endif()

# The tests link Debian's GoogleTest and tests/support, both built with the default ABI.
if(GRADRECOMP_BUILD_TESTS AND NOT _gradrecomp_torch_core STREQUAL "gradrecomp_core")
  message(STATUS "gradrecomp_torch: tests skipped (they need GoogleTest built with LibTorch's old string ABI)")
elseif(GRADRECOMP_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  file(GLOB GRADRECOMP_TORCH_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/torch/*_test.cpp)
  foreach(test_source ${GRADRECOMP_TORCH_TESTS})
    get_filename_component(test_name ${test_source} NAME_WE)
    set(test_name torch_${test_name})
    add_executable(${test_name} ${test_source})
    target_link_libraries(${test_name} PRIVATE gradrecomp_torch GTest::gtest GTest::gtest_main)
    target_link_libraries(${test_name} PRIVATE gradrecomp_test_support)  # expect_replays
    target_include_directories(${test_name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/tests)
    target_compile_options(${test_name} PRIVATE -Wall -Wextra)
    target_precompile_headers(${test_name} REUSE_FROM gradrecomp_torch)
    gtest_discover_tests(${test_name} DISCOVERY_TIMEOUT 120)
  endforeach()
endif()

if(GRADRECOMP_BUILD_BENCH)
  file(GLOB GRADRECOMP_TORCH_BENCHES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/bench/torch/*_bench.cpp)
  foreach(bench_source ${GRADRECOMP_TORCH_BENCHES})
    get_filename_component(bench_name ${bench_source} NAME_WE)
    set(bench_name torch_${bench_name})
    add_executable(${bench_name} ${bench_source})
    target_link_libraries(${bench_name} PRIVATE gradrecomp_torch)
    target_compile_options(${bench_name} PRIVATE -Wall -Wextra)
    target_precompile_headers(${bench_name} REUSE_FROM gradrecomp_torch)
  endforeach()
endif()
