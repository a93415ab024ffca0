#include "common/status.h"

namespace vigil {

std::string Status::ToString() const {
  switch (code_) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      return "NotFound: " + message_;
    case Code::kCorruption:
      return "Corruption: " + message_;
    case Code::kNotSupported:
      return "NotSupported: " + message_;
    case Code::kInvalidArgument:
      return "InvalidArgument: " + message_;
    case Code::kIOError:
      return "IOError: " + message_;
  }
  return message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

}  // namespace vigil
