#include "schema/csv.h"

namespace vigil {

Result<bool> CsvReader::Next(std::vector<std::string>* cells, std::vector<bool>* quoted) {
  // Skip blank lines.
  while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
    if (text_[pos_] == '\n') ++next_line_;
    ++pos_;
  }
  if (pos_ >= text_.size()) return false;
  record_line_ = next_line_;
  cells->clear();
  if (quoted) quoted->clear();
  std::string cell;
  bool is_quoted = false;
  while (true) {
    if (pos_ < text_.size() && text_[pos_] == '"') {
      is_quoted = true;
      ++pos_;
      while (true) {
        if (pos_ >= text_.size()) {
          return Status::InvalidArgument("line " + std::to_string(record_line_) +
                                         ": unterminated quoted cell");
        }
        char c = text_[pos_++];
        if (c == '"') {
          if (pos_ < text_.size() && text_[pos_] == '"') {
            cell.push_back('"');
            ++pos_;
            continue;
          }
          break;
        }
        if (c == '\n') ++next_line_;
        cell.push_back(c);
      }
      if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
        return Status::InvalidArgument("line " + std::to_string(next_line_) + ": text after a closing quote");
      }
    } else {
      size_t end = text_.find_first_of(",\r\n", pos_);
      if (end == std::string_view::npos) end = text_.size();
      cell.assign(text_.substr(pos_, end - pos_));
      pos_ = end;
    }
    cells->push_back(std::move(cell));
    if (quoted) quoted->push_back(is_quoted);
    cell.clear();
    is_quoted = false;
    if (pos_ < text_.size() && text_[pos_] == ',') {
      ++pos_;
      continue;
    }
    // End of record.
    if (pos_ < text_.size() && text_[pos_] == '\r') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '\n') {
      ++pos_;
      ++next_line_;
    }
    return true;
  }
}

}  // namespace vigil
