// Errors of gradrecomp.
//
//   try { auto g = gradrecomp::read_graph_file("net.json"); }
//   catch (const gradrecomp::Error& e) { std::cerr << e.what() << "\n"; return 2; }
//
// `Error` is for problems with what a user gave us (a document, a flag, a budget): its message
// names the offending id or value and what was expected. `GRADRECOMP_ASSERT` is for internal
// invariants that cannot fail unless gradrecomp itself has a bug.
#pragma once

#include <stdexcept>
#include <string>

namespace gradrecomp {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

[[noreturn]] void internal_error(const char* condition, const char* file, int line,
                                 const std::string& detail);

}  // namespace gradrecomp

#define GRADRECOMP_ASSERT(condition, detail)                                              \
  do {                                                                                    \
    if (!(condition)) ::gradrecomp::internal_error(#condition, __FILE__, __LINE__, detail); \
  } while (false)
