#include "tests/support/wait.hpp"
