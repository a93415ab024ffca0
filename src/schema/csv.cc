#include "schema/csv.h"

#include <algorithm>

namespace vigil {

Result<bool> CsvReader::Next(std::vector<std::string>* cells, std::vector<bool>* quoted) {
  VIGIL_ASSIGN_OR_RETURN(bool more, Next(&views_, quoted));
  if (!more) return false;
  // Written over the strings *cells already holds: a reader that passes the same vector
  // row after row allocates for its first rows only.
  cells->resize(views_.size());
  for (size_t i = 0; i < views_.size(); ++i) (*cells)[i].assign(views_[i]);
  return true;
}

Result<bool> CsvReader::Next(std::vector<std::string_view>* cells, std::vector<bool>* quoted) {
  // Skip blank lines.
  while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
    if (text_[pos_] == '\n') ++next_line_;
    ++pos_;
  }
  if (pos_ >= text_.size()) return false;
  record_line_ = next_line_;
  cells->clear();
  if (quoted) quoted->clear();
  unescaped_.clear();
  unescaped_cells_.clear();
  while (true) {
    const bool is_quoted = pos_ < text_.size() && text_[pos_] == '"';
    if (is_quoted) {
      // The text between the quotes is the cell, unless it holds "" escapes: then its
      // unescaped copy in unescaped_ is.
      const size_t start = ++pos_;
      bool escaped = false;
      while (true) {
        const size_t q = text_.find('"', pos_);
        if (q == std::string_view::npos) {
          return Status::InvalidArgument("line " + std::to_string(record_line_) +
                                         ": unterminated quoted cell");
        }
        next_line_ += std::count(text_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                 text_.begin() + static_cast<std::ptrdiff_t>(q), '\n');
        if (q + 1 < text_.size() && text_[q + 1] == '"') {  // "" : one quote, and the cell goes on
          escaped = true;
          unescaped_.append(text_.substr(pos_, q + 1 - pos_));
          pos_ = q + 2;
          continue;
        }
        if (escaped) {
          unescaped_.append(text_.substr(pos_, q - pos_));
          unescaped_cells_.emplace_back(cells->size(), unescaped_.size());
          cells->emplace_back();  // set below, once unescaped_ stops growing
        } else {
          cells->push_back(text_.substr(start, q - start));
        }
        pos_ = q + 1;
        break;
      }
      if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
        return Status::InvalidArgument("line " + std::to_string(next_line_) + ": text after a closing quote");
      }
    } else {
      size_t end = text_.find_first_of(",\r\n", pos_);
      if (end == std::string_view::npos) end = text_.size();
      cells->push_back(text_.substr(pos_, end - pos_));
      pos_ = end;
    }
    if (quoted) quoted->push_back(is_quoted);
    if (pos_ < text_.size() && text_[pos_] == ',') {
      ++pos_;
      continue;
    }
    // End of record.
    size_t begin = 0;
    for (const auto& [cell, end] : unescaped_cells_) {
      (*cells)[cell] = std::string_view(unescaped_).substr(begin, end - begin);
      begin = end;
    }
    if (pos_ < text_.size() && text_[pos_] == '\r') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '\n') {
      ++pos_;
      ++next_line_;
    }
    return true;
  }
}

}  // namespace vigil
