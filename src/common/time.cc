#include "common/time.h"

#include <charconv>
#include <chrono>
#include <cstdio>

namespace vigil {
namespace {

bool ParseDigits(std::string_view s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

Status BadTimestamp(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("bad timestamp '" + std::string(text.substr(0, 64)) +
                                 "': " + std::string(why) +
                                 " (want ms since epoch or ISO-8601 with a zone, "
                                 "e.g. 2026-03-01T12:00:00Z)");
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

Result<DurationMs> ParseDuration(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0) {
    return Status::InvalidArgument("bad duration '" + std::string(text) +
                                   "': want <integer><unit>, unit one of ms s m h d (e.g. 10m)");
  }
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + i, n);
  if (ec != std::errc()) {
    return Status::InvalidArgument("bad duration '" + std::string(text) + "': number too large");
  }
  std::string_view unit = text.substr(i);
  int64_t mul;
  if (unit == "ms")
    mul = 1;
  else if (unit == "s")
    mul = 1000;
  else if (unit == "m")
    mul = 60'000;
  else if (unit == "h")
    mul = 3'600'000;
  else if (unit == "d")
    mul = 86'400'000;
  else {
    return Status::InvalidArgument("bad duration '" + std::string(text) +
                                   "': unit must be one of ms s m h d");
  }
  if (n > kMaxTimestamp / mul) {
    return Status::InvalidArgument("bad duration '" + std::string(text) + "': too large");
  }
  return n * mul;
}

std::string FormatDuration(DurationMs d) {
  if (d != 0) {
    if (d % 86'400'000 == 0) return std::to_string(d / 86'400'000) + "d";
    if (d % 3'600'000 == 0) return std::to_string(d / 3'600'000) + "h";
    if (d % 60'000 == 0) return std::to_string(d / 60'000) + "m";
    if (d % 1000 == 0) return std::to_string(d / 1000) + "s";
  }
  return std::to_string(d) + "ms";
}

Result<TimestampMs> ParseIsoTimestamp(std::string_view s) {
  // YYYY-MM-DD[T ]hh:mm:ss[.fff...](Z|+hh:mm|-hh:mm|+hhmm)
  int64_t y, mo, d, h, mi, sec;
  if (!ParseDigits(s, 0, 4, &y) || s.size() < 19 || s[4] != '-' || !ParseDigits(s, 5, 2, &mo) ||
      s[7] != '-' || !ParseDigits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != ' ' && s[10] != 't') ||
      !ParseDigits(s, 11, 2, &h) || s[13] != ':' || !ParseDigits(s, 14, 2, &mi) || s[16] != ':' ||
      !ParseDigits(s, 17, 2, &sec)) {
    return BadTimestamp(s, "not YYYY-MM-DDThh:mm:ss");
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
    return BadTimestamp(s, "field out of range");
  }
  static constexpr int kDaysIn[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kDaysIn[mo - 1] || (mo == 2 && d == 29 && !leap)) {
    return BadTimestamp(s, "no such day");
  }
  if (sec == 60) sec = 59;  // leap second: clamp, as POSIX time does
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    size_t start = pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) ms = ms * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (pos == start) return BadTimestamp(s, "empty fraction");
    for (int i = digits; i < 3; ++i) ms *= 10;
  }
  if (pos >= s.size()) return BadTimestamp(s, "missing zone (add Z or +hh:mm)");
  int64_t offset_min = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int sign = s[pos] == '-' ? -1 : 1;
    int64_t oh, om;
    if (!ParseDigits(s, pos + 1, 2, &oh)) return BadTimestamp(s, "bad zone offset");
    size_t mpos = pos + 3;
    if (mpos < s.size() && s[mpos] == ':') ++mpos;
    if (!ParseDigits(s, mpos, 2, &om)) return BadTimestamp(s, "bad zone offset");
    if (oh > 23 || om > 59) return BadTimestamp(s, "zone offset out of range");
    offset_min = sign * (oh * 60 + om);
    pos = mpos + 2;
  } else {
    return BadTimestamp(s, "bad zone (want Z or +hh:mm)");
  }
  if (pos != s.size()) return BadTimestamp(s, "trailing characters");
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return secs * 1000 + ms;
}

Result<TimestampMs> ParseTimestamp(std::string_view text) {
  if (text.empty()) return BadTimestamp(text, "empty");
  bool integer = true;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!((c >= '0' && c <= '9') || (i == 0 && c == '-'))) {
      integer = false;
      break;
    }
  }
  if (integer) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size()) return BadTimestamp(text, "not a number");
    if (v < kMinTimestamp || v > kMaxTimestamp) return BadTimestamp(text, "out of range");
    return v;
  }
  return ParseIsoTimestamp(text);
}

std::string FormatIsoTimestamp(TimestampMs ts) {
  int64_t ms = ts % 1000;
  int64_t secs = ts / 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(y),
                m, d, static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                static_cast<long long>(rem % 60), static_cast<long long>(ms));
  return buf;
}

TimestampMs WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace vigil
