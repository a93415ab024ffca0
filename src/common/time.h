// Time in vigil: int64 milliseconds since the Unix epoch, UTC (DESIGN.md §4).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vigil {

using TimestampMs = int64_t;
using DurationMs = int64_t;

// The instants no event may carry: "no time yet" and "after everything".
inline constexpr TimestampMs kMinTimestamp = INT64_MIN / 4;
inline constexpr TimestampMs kMaxTimestamp = INT64_MAX / 4;

// Parses "<integer><unit>" with unit one of ms s m h d, e.g. "500ms", "2s", "30d".
// Zero is allowed ("0s"); negatives and missing units are InvalidArgument.
Result<DurationMs> ParseDuration(std::string_view text);

// Formats the largest unit that divides the duration exactly: 3600000 -> "1h".
std::string FormatDuration(DurationMs d);

// Parses ISO-8601 / RFC 3339 with a zone: "2026-03-01T12:00:00Z",
// "2026-03-01T12:00:00.250+02:00", "2026-03-01 12:00:00Z". Fractional seconds beyond
// milliseconds are truncated toward the past. Years 0000..9999.
Result<TimestampMs> ParseIsoTimestamp(std::string_view text);

// Accepts either an integer (ms since the epoch) or ISO-8601 with a zone.
Result<TimestampMs> ParseTimestamp(std::string_view text);

// "2026-03-01T12:00:00.250Z" (milliseconds always shown).
std::string FormatIsoTimestamp(TimestampMs ts);

// Days since 1970-01-01 for a civil date, and back (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d);

// Wall-clock now, in ms since the epoch.
TimestampMs WallClockMs();

}  // namespace vigil
