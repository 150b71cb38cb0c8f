#include <iostream>
int main() { std::cout << "gradrecomp: CLI under construction\n"; return 0; }
