// RFC 4180 CSV records, for label files and other tabular inputs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace vigil {

// Splits CSV text into records. Quoted cells may hold commas, quotes ("" escapes) and
// newlines; LF and CRLF both end a record. Blank lines are skipped.
class CsvReader {
 public:
  explicit CsvReader(std::string_view text) : text_(text) {}
  // Reads the next record into *cells (and whether each cell was quoted). Returns false
  // at the end. InvalidArgument, naming the line, for an unterminated quote or text
  // after a closing quote.
  Result<bool> Next(std::vector<std::string>* cells, std::vector<bool>* quoted = nullptr);
  // The same, each cell a view: into the text, or for a quoted cell holding "" escapes
  // into the reader's own buffer. Valid until the next call (and the text's life).
  Result<bool> Next(std::vector<std::string_view>* cells, std::vector<bool>* quoted = nullptr);
  // The 1-based line on which the last record returned began.
  int64_t line() const { return record_line_; }

 private:
  std::string_view text_;
  std::string unescaped_;  // the text of the last record's cells with "" escapes, one after the other
  std::vector<std::pair<size_t, size_t>> unescaped_cells_;  // (cell index, its end in unescaped_)
  std::vector<std::string_view> views_;  // the string form's record, before it is copied out
  size_t pos_ = 0;
  int64_t next_line_ = 1;
  int64_t record_line_ = 0;
};

}  // namespace vigil
