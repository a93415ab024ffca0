// JSON text of a parsed nlohmann value, appended to a caller's string: the serving log
// builds each record into one reused buffer (scoring_service.cc), where `json::dump()`
// returns a new string each call.
//  - Compact: no spaces; object members in the value's order (nlohmann's: by key).
//  - Strings escaped as AppendJsonString (schema/value.h) does; parsed JSON is UTF-8.
//  - Numbers as `dump()` writes them: integers exact, doubles as the shortest text that
//    reads back the same, with ".0" added to an integral one so it stays a float; a NaN or
//    an infinity (never parsed, only built) as null.
// Parsing the text back gives a value equal to the input (json_text_test.cc).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace vigil {

void AppendJsonText(const nlohmann::json& value, std::string* out);

}  // namespace vigil
