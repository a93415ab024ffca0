// Changelog rows and entity keys: what compute emits and every store consumes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "schema/value.h"

namespace vigil {

// One row of a view's changelog (DESIGN.md §4): from `ts` on, until the entity's next
// row, its features hold `values` (in the view's feature order).
struct ChangelogRow {
  std::string entity;  // encoded entity key, see EncodeEntityKey
  TimestampMs ts = 0;
  Row values;
  bool operator==(const ChangelogRow& o) const {
    return ts == o.ts && entity == o.entity && values == o.values;
  }
};

// Separates the parts of a composite key. Key values that contain it are rejected at
// ingest, so the encoding is unambiguous.
inline constexpr char kKeySeparator = '\x1f';

// The entity key of an event: the text form of each key field, joined by kKeySeparator.
// REQUIRES: every key field is non-null.
std::string EncodeEntityKey(const Row& fields, const std::vector<int>& key_indexes);
// The same key without a copy where possible: the field's own string when the key is one
// string field, else the key built in *buf. Valid while `fields` and *buf are.
std::string_view EntityKeyView(const Row& fields, const std::vector<int>& key_indexes, std::string* buf);
// Splits an encoded key into its parts.
std::vector<std::string> SplitEntityKey(std::string_view key);
// "a,b" for display.
std::string DisplayEntityKey(std::string_view key);

// Log payload of a changelog row (the entity is the record key):
//   varint zigzag ts, varint count, then each value as row_codec's tagged value.
void EncodeChangelogPayload(const ChangelogRow& row, std::string* out);
// Corruption on truncated or malformed bytes; never crashes.
Status DecodeChangelogPayload(std::string_view payload, ChangelogRow* row);

}  // namespace vigil
