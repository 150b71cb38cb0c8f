# Benchmarks: each bench/*_bench.cpp is a plain program that prints its figures (markdown/CSV/JSON).
file(GLOB GRADRECOMP_BENCH_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/bench/*_bench.cpp)
foreach(bench_source ${GRADRECOMP_BENCH_SOURCES})
  get_filename_component(bench_name ${bench_source} NAME_WE)
  add_executable(${bench_name} ${bench_source})
  target_link_libraries(${bench_name} PRIVATE gradrecomp_core fmt::fmt nlohmann_json::nlohmann_json)
endforeach()
