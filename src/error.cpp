#include "gradrecomp/error.h"

#include <cstdlib>
#include <iostream>

namespace gradrecomp {

void internal_error(const char* condition, const char* file, int line, const std::string& detail) {
  std::cerr << "gradrecomp internal error (a bug, please report it): " << condition << " failed at "
            << file << ":" << line << (detail.empty() ? "" : ": ") << detail << "\n";
  std::abort();
}

}  // namespace gradrecomp
