// Test code only: gtest's printer for Value, so that a failed EXPECT_EQ on values prints
// "<type>:<value>" rather than bytes. Every part's tests include this one definition.
#pragma once

#include <ostream>

#include "schema/value.h"

namespace vigil {

inline void PrintTo(const Value& v, std::ostream* os) { *os << TypeName(v.type()) << ":" << v.DebugString(); }

}  // namespace vigil
