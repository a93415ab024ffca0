#include "schema/event_decoder.h"

#include "schema/parquet.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

namespace vigil {
namespace event_decoder_test {

// ---------------------------------------------------------------------------------------
// Helpers

// user_id: string (entity key), amount: double, n: int64, ok: bool, seen_at: timestamp
DecodeOptions TxnOptions() {
  DecodeOptions o;
  o.source = "transactions";
  o.schema = Schema({{"user_id", Type::kString},
                     {"amount", Type::kDouble},
                     {"n", Type::kInt64},
                     {"ok", Type::kBool},
                     {"seen_at", Type::kTimestamp}});
  o.required = {0};
  return o;
}

constexpr int kUser = 0, kAmount = 1, kN = 2, kOk = 3, kSeenAt = 4;

Event MustDecode(std::string_view json, const DecodeOptions& o = TxnOptions()) {
  JsonEventDecoder d(o);
  Event ev;
  Status st = d.Decode(json, &ev);
  EXPECT_TRUE(st.ok()) << json << " -> " << st.ToString();
  return ev;
}

std::string DecodeError(std::string_view json, const DecodeOptions& o = TxnOptions()) {
  JsonEventDecoder d(o);
  Event ev;
  Status st = d.Decode(json, &ev);
  EXPECT_FALSE(st.ok()) << json << " decoded";
  EXPECT_TRUE(st.ok() || st.IsInvalidArgument()) << st.ToString();
  return st.message();
}

bool Contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

class TempFile {
 public:
  TempFile(std::string_view suffix, std::string_view content) {
    static int counter = 0;
    path_ = ::testing::TempDir() + "vigil_decode_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter++) + std::string(suffix);
    std::ofstream f(path_, std::ios::binary);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Decoded {
  Status status;
  std::vector<std::pair<int64_t, Event>> events;  // (line, event)
  std::vector<RejectedRecord> rejects;
};

Decoded DecodeText(std::string_view content, InputFormat format, const DecodeOptions& o = TxnOptions()) {
  TempFile f(format == InputFormat::kCsv ? ".csv" : ".jsonl", content);
  Decoded out;
  out.status = DecodeFile(
      f.path(), format, o,
      [&](Event&& ev, int64_t line) {
        out.events.emplace_back(line, std::move(ev));
        return Status::OK();
      },
      [&](RejectedRecord&& r) {
        EXPECT_EQ(r.file, f.path());
        out.rejects.push_back(std::move(r));
        return Status::OK();
      });
  return out;
}

// ---------------------------------------------------------------------------------------
// Options and formats

TEST(FormatFromPathTest, PicksFormatFromExtension) {
  EXPECT_EQ(*FormatFromPath("a/b/events.jsonl"), InputFormat::kJsonLines);
  EXPECT_EQ(*FormatFromPath("events.JSON"), InputFormat::kJsonLines);
  EXPECT_EQ(*FormatFromPath("events.ndjson"), InputFormat::kJsonLines);
  EXPECT_EQ(*FormatFromPath("/tmp/x.y/events.csv"), InputFormat::kCsv);
  EXPECT_EQ(*FormatFromPath("EVENTS.CSV"), InputFormat::kCsv);
  EXPECT_EQ(*FormatFromPath("/d/events.Parquet"), InputFormat::kParquet);
  for (const char* bad : {"events", "events.txt", "events.jsonl.gz", "dir.csv/events", ".", ""}) {
    auto r = FormatFromPath(bad);
    EXPECT_TRUE(r.status().IsInvalidArgument()) << bad;
  }
  EXPECT_TRUE(Contains(FormatFromPath("e.txt").status().message(), ".jsonl"));
}

TEST(DecodeOptionsTest, RejectsInconsistentOptions) {
  EXPECT_TRUE(ValidateDecodeOptions(TxnOptions()).ok());
  DecodeOptions o = TxnOptions();
  o.schema.Add({"ts", Type::kTimestamp});
  EXPECT_TRUE(Contains(ValidateDecodeOptions(o).message(), "name of the timestamp field"));
  o = TxnOptions();
  o.schema.Add({"amount", Type::kInt64});
  EXPECT_TRUE(Contains(ValidateDecodeOptions(o).message(), "'amount' appears twice"));
  o = TxnOptions();
  o.required = {7};
  EXPECT_TRUE(Contains(ValidateDecodeOptions(o).message(), "index 7 is out of range"));
  o = TxnOptions();
  o.schema.Add({"x", Type::kNull});
  EXPECT_FALSE(ValidateDecodeOptions(o).ok());
  o = TxnOptions();
  o.min_ts = 10;
  o.max_ts = 5;
  EXPECT_FALSE(ValidateDecodeOptions(o).ok());
  // The decoder reports bad options on every record rather than misdecoding.
  o = TxnOptions();
  o.required = {-1};
  EXPECT_TRUE(Contains(DecodeError(R"({"ts":1,"user_id":"u"})", o), "out of range"));
  // And DecodeFile fails as a whole.
  EXPECT_TRUE(DecodeText("{}\n", InputFormat::kJsonLines, o).status.IsInvalidArgument());
}

// ---------------------------------------------------------------------------------------
// JSON values

TEST(JsonDecodeTest, DecodesEveryType) {
  Event ev = MustDecode(R"({"ts": 1700000000000, "user_id": "u1", "amount": 12.5, "n": -7, "ok": true,)"
                        R"( "seen_at": "2023-11-14T22:13:20Z", "extra": {"nested": [1, "x", null]}})");
  EXPECT_EQ(ev.ts, 1700000000000);
  ASSERT_EQ(ev.fields.size(), 5u);
  EXPECT_EQ(ev.fields[kUser], Value::String("u1"));
  EXPECT_EQ(ev.fields[kAmount], Value::Double(12.5));
  EXPECT_EQ(ev.fields[kN], Value::Int64(-7));
  EXPECT_EQ(ev.fields[kOk], Value::Bool(true));
  EXPECT_EQ(ev.fields[kSeenAt], Value::Timestamp(1700000000000));
}

TEST(JsonDecodeTest, MissingAndNullFieldsAreNull) {
  Event ev = MustDecode(R"({"ts":1,"user_id":"u1","amount":null})");
  EXPECT_EQ(ev.fields[kUser], Value::String("u1"));
  for (int i : {kAmount, kN, kOk, kSeenAt}) EXPECT_TRUE(ev.fields[i].is_null()) << i;
}

TEST(JsonDecodeTest, TimestampsAsIntegerOrIso) {
  EXPECT_EQ(MustDecode(R"({"ts":"2026-03-01T12:00:00Z","user_id":"u"})").ts, 1772366400000);
  EXPECT_EQ(MustDecode(R"({"ts":"2026-03-01T14:00:00.250+02:00","user_id":"u"})").ts, 1772366400250);
  EXPECT_EQ(MustDecode(R"({"ts":1772366400000,"user_id":"u"})").ts, 1772366400000);
  EXPECT_EQ(MustDecode(R"({"ts":0,"user_id":"u"})").ts, 0);
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"u","seen_at":-5})").fields[kSeenAt], Value::Timestamp(-5));

  EXPECT_TRUE(
      Contains(DecodeError(R"({"ts":"yesterday","user_id":"u"})"), "field 'ts': bad timestamp 'yesterday'"));
  EXPECT_TRUE(Contains(DecodeError(R"({"ts":"2026-03-01T12:00:00","user_id":"u"})"), "missing zone"));
  EXPECT_EQ(DecodeError(R"({"ts":1.5,"user_id":"u"})"),
            "field 'ts': want timestamp (integer ms or ISO-8601 string), got number 1.5");
  EXPECT_EQ(DecodeError(R"({"ts":true,"user_id":"u"})"),
            "field 'ts': want timestamp (integer ms or ISO-8601 string), got bool true");
  EXPECT_EQ(DecodeError(R"({"ts":[1],"user_id":"u"})"),
            "field 'ts': want timestamp (integer ms or ISO-8601 string), got array");
  EXPECT_TRUE(Contains(DecodeError(R"({"ts":99999999999999999999,"user_id":"u"})"),
                       "field 'ts': bad timestamp 99999999999999999999: out of range"));
  EXPECT_TRUE(Contains(DecodeError(R"({"ts":1,"user_id":"u","seen_at":"soon"})"),
                       "field 'seen_at': bad timestamp 'soon'"));
}

TEST(JsonDecodeTest, TimestampFieldIsRequiredAndBounded) {
  EXPECT_EQ(DecodeError(R"({"user_id":"u"})"), "field 'ts': missing (event timestamp)");
  EXPECT_EQ(DecodeError(R"({"ts":null,"user_id":"u"})"), "field 'ts': null (event timestamp)");
  // Before 1970 is rejected by default.
  EXPECT_EQ(DecodeError(R"({"ts":-1,"user_id":"u"})"),
            "field 'ts': -1 (1969-12-31T23:59:59.999Z) is before the limit 1970-01-01T00:00:00.000Z");
  DecodeOptions o = TxnOptions();
  o.max_ts = 1772409600000;  // 2026-03-02
  EXPECT_EQ(DecodeError(R"({"ts":4102444800000,"user_id":"u"})", o),
            "field 'ts': 4102444800000 (2100-01-01T00:00:00.000Z) is after the far-future "
            "limit 2026-03-02T00:00:00.000Z");
  EXPECT_EQ(MustDecode(R"({"ts":1772409600000,"user_id":"u"})", o).ts, 1772409600000);
  // Another name for the timestamp field.
  o = TxnOptions();
  o.ts_field = "event_time";
  EXPECT_EQ(MustDecode(R"({"event_time":7,"user_id":"u","ts":"ignored"})", o).ts, 7);
  EXPECT_EQ(DecodeError(R"({"ts":7,"user_id":"u"})", o), "field 'event_time': missing (event timestamp)");
}

TEST(JsonDecodeTest, EntityKeysAreRequired) {
  EXPECT_EQ(DecodeError(R"({"ts":1})"), "field 'user_id': missing (entity key)");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":null})"), "field 'user_id': null (entity key)");
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":""})").fields[kUser], Value::String(""));
}

TEST(JsonDecodeTest, Int64RequiresAJsonIntegerInRange) {
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"u","n":9223372036854775807})").fields[kN],
            Value::Int64(INT64_MAX));
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"u","n":-9223372036854775808})").fields[kN],
            Value::Int64(INT64_MIN));
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"u","n":-0})").fields[kN], Value::Int64(0));
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","n":1.5})"),
            "field 'n': want int64, got number 1.5 (write integers without '.' or exponent)");
  EXPECT_TRUE(Contains(DecodeError(R"({"ts":1,"user_id":"u","n":1e3})"), "got number 1e3"));
  EXPECT_TRUE(Contains(DecodeError(R"({"ts":1,"user_id":"u","n":1.0})"), "got number 1.0"));
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","n":"12"})"), "field 'n': want int64, got string \"12\"");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","n":true})"), "field 'n': want int64, got bool true");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","n":9223372036854775808})"),
            "field 'n': integer 9223372036854775808 is out of int64 range");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","n":-9223372036854775809})"),
            "field 'n': integer -9223372036854775809 is out of int64 range");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","n":123456789012345678901234567890})"),
            "field 'n': integer 123456789012345678901234567890 is out of int64 range");
}

TEST(JsonDecodeTest, DoubleAcceptsAnyFiniteNumber) {
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"u","amount":12})").fields[kAmount], Value::Double(12));
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"u","amount":-0.0})").fields[kAmount], Value::Double(-0.0));
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"u","amount":1.5e3})").fields[kAmount], Value::Double(1500));
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"u","amount":1e-400})").fields[kAmount], Value::Double(0));
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"u","amount":18446744073709551616})").fields[kAmount],
            Value::Double(18446744073709551616.0));
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","amount":"12"})"),
            "field 'amount': want double, got string \"12\"");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","amount":1e400})"),
            "field 'amount': number 1e400 is out of double range");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","amount":-1e400})"),
            "field 'amount': number -1e400 is out of double range");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","amount":NaN})"),
            "bad JSON: NaN is not a JSON number (NaN and infinities cannot be represented) in "
            "field 'amount'");
  // NaN and Infinity are not JSON.
  for (const char* bad :
       {R"({"ts":1,"user_id":"u","amount":NaN})", R"({"ts":1,"user_id":"u","amount":Infinity})",
        R"({"ts":1,"user_id":"u","amount":-Infinity})", R"({"ts":1,"user_id":"u","amount":"NaN"})"}) {
    std::string why = DecodeError(bad);
    EXPECT_TRUE(Contains(why, "bad JSON") || Contains(why, "want double")) << bad << ": " << why;
  }
}

TEST(JsonDecodeTest, BoolAndStringAreStrict) {
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"u","ok":false})").fields[kOk], Value::Bool(false));
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","ok":1})"), "field 'ok': want bool, got number 1");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","ok":"true"})"),
            "field 'ok': want bool, got string \"true\"");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":7})"), "field 'user_id': want string, got number 7");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":{"id":7}})"), "field 'user_id': want string, got object");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":["u"]})"), "field 'user_id': want string, got array");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":false})"), "field 'user_id': want string, got bool false");
  // Escapes are decoded, in values and in keys.
  EXPECT_EQ(MustDecode(R"({"ts":1,"user_id":"a\"b\\c\u00e9\n"})").fields[kUser],
            Value::String("a\"b\\c\xC3\xA9\n"));
  EXPECT_EQ(MustDecode(R"({"ts":1,"user\u005fid":"u9"})").fields[kUser], Value::String("u9"));
  // A long offending value is shortened in the reason.
  std::string long_value =
      R"({"ts":1,"user_id":")" + std::string(1000, 'x') + R"(","n":")" + std::string(1000, 'y') + R"("})";
  std::string why = DecodeError(long_value);
  EXPECT_LT(why.size(), 200u) << why;
  EXPECT_TRUE(Contains(why, "...")) << why;
}

TEST(JsonDecodeTest, DuplicateKeysAreRejected) {
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"a","user_id":"b"})"), "field 'user_id': duplicate key");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"a","ts":2})"), "field 'ts': duplicate key");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"a","x":1,"x":2})"), "field 'x': duplicate key");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"a","user\u005fid":"b"})"), "field 'user_id': duplicate key");
  // Many ignored keys (past the linear-search limit), one repeated at the end.
  std::string many = R"({"ts":1,"user_id":"a")";
  for (int i = 0; i < 40; ++i) many += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
  EXPECT_EQ(MustDecode(many + "}").fields[kUser], Value::String("a"));
  EXPECT_EQ(DecodeError(many + R"(,"k3":0})"), "field 'k3': duplicate key");
  // Repeated keys inside an ignored nested object are not our business.
  MustDecode(R"({"ts":1,"user_id":"a","x":{"k":1,"k":2}})");
}

TEST(JsonDecodeTest, RejectsInvalidJson) {
  const char* bad[] = {
      R"({"ts":1,"user_id":"u")",               // unterminated
      R"({"ts":1,"user_id":"u"} x)",            // trailing text
      R"({"ts":1,"user_id":"u"}})",             // trailing brace
      R"({"ts":1,"user_id":"u"} {"ts":2})",     // two objects
      R"({"ts":1,"user_id":"u",})",             // trailing comma
      R"({"ts":1 "user_id":"u"})",              // missing comma
      R"({"ts":1,"user_id":"u","x":[1,2})",     // bracket mismatch in an ignored value
      R"({"ts":1,"user_id":"u","x":{"a":1]})",  // bracket mismatch in an ignored value
      R"({"ts":1,"user_id":"u","x":tru})",      // bad literal in an ignored value
      R"({"ts":1,"user_id":"u","x":nul})",
      R"({"ts":1,"user_id":"u","x":nullx})",
      R"({"ts":1,"user_id":nul})",  // bad literal in a schema field
      R"({"ts":1,"user_id":"u","amount":nil})",
      R"({"ts":1,"user_id":"u","x":01})",  // bad number in an ignored value
      R"({"ts":1,"user_id":"u","x":-})",
      R"({"ts":1,"user_id":"u","x":1.})",
      R"({"ts":1,"user_id":"u","amount":.5})",
      R"({"ts":1,"user_id":"u","amount":01})",
      R"({"ts":1,"user_id":"u","x":"\q"})",  // bad escape in an ignored value
      R"({"ts":1,"user_id":"\ud800"})",      // lone surrogate
      R"({'ts':1})",
      R"({ts:1})",
      R"({"ts":1,"user_id":"u"})"
      "\x01",
      "{",
      "}",
      "",
  };
  for (const char* json : bad) {
    std::string why = DecodeError(json);
    EXPECT_TRUE(Contains(why, "bad JSON")) << json << " -> " << why;
  }
  EXPECT_EQ(DecodeError("[1,2]"), "not a JSON object (got array)");
  EXPECT_EQ(DecodeError("\"x\""), "not a JSON object (got string \"x\")");
  EXPECT_EQ(DecodeError("12"), "not a JSON object (got number 12)");
  EXPECT_EQ(DecodeError("null"), "not a JSON object (got null)");
  EXPECT_EQ(DecodeError("not json"), "bad JSON: not a JSON value: not json");
  EXPECT_EQ(DecodeError("12 13"), "bad JSON: not a JSON value: 12 13");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u","amount":01})"),
            "bad JSON: malformed number 01 in field 'amount'");
  EXPECT_EQ(DecodeError(R"({"ts":1,"user_id":"u"} {"ts":2})"), "bad JSON: text after the object: {\"ts\":2}");
}

TEST(JsonDecodeTest, DeepNestingIsAnErrorNotACrash) {
  std::string deep =
      R"({"ts":1,"user_id":"u","x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  std::string why = DecodeError(deep);
  EXPECT_FALSE(why.empty());
  std::string unbalanced = R"({"ts":1,"user_id":"u","x":)" + std::string(500000, '[') + "}";
  EXPECT_FALSE(DecodeError(unbalanced).empty());
  // Moderate nesting in an ignored value is fine.
  MustDecode(R"({"ts":1,"user_id":"u","x":[[[{"a":[{"b":null}]}]]]})");
}

TEST(JsonDecodeTest, RejectsInvalidUtf8) {
  EXPECT_EQ(DecodeError("{\"ts\":1,\"user_id\":\"\xff\"}"), "not valid UTF-8");
  EXPECT_EQ(DecodeError("{\"ts\":1,\"user_id\":\"u\",\"\xc3\x28\":1}"), "not valid UTF-8");
  EXPECT_EQ(DecodeError("{\"ts\":1,\"user_id\":\"\xc0\xaf\"}"), "not valid UTF-8");      // overlong
  EXPECT_EQ(DecodeError("{\"ts\":1,\"user_id\":\"\xed\xa0\x80\"}"), "not valid UTF-8");  // surrogate
  EXPECT_EQ(MustDecode("{\"ts\":1,\"user_id\":\"\xf0\x9f\x98\x80\"}").fields[kUser],
            Value::String("\xf0\x9f\x98\x80"));
}

TEST(JsonDecodeTest, EnforcesTheRecordSizeLimit) {
  DecodeOptions o = TxnOptions();
  const std::string ok = R"({"ts":1,"user_id":"abcdefghijklmnopq"})";
  o.max_record_bytes = ok.size();
  MustDecode(ok, o);  // the limit is inclusive
  const std::string too_long = R"({"ts":1,"user_id":"abcdefghijklmnopqr"})";
  EXPECT_EQ(DecodeError(too_long, o), "record is " + std::to_string(ok.size() + 1) + " bytes, over the " +
                                          std::to_string(ok.size()) + "-byte limit");
}

TEST(JsonDecodeTest, ReusedDecoderHandlesChangingKeyOrderAndSizes) {
  JsonEventDecoder d(TxnOptions());
  const std::string docs[] = {
      R"({"ts":1,"user_id":"a","amount":1.5,"n":1,"ok":true})",
      R"({"ok":false,"n":2,"amount":2.5,"user_id":"b","ts":2})",
      R"({"n":3,"ts":3,"zzz":0,"user_id":"c"})",
      R"({"ts":4,"user_id":"d","amount":4.5,"n":4,"ok":true,"pad":")" + std::string(5000, 'p') + R"("})",
      R"({"ts":5,"user_id":"e"})",
      R"({"user":"f","ts":6,"user_id":"f","user_idx":1})",
  };
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 6; ++i) {
      Event ev;
      Status st = d.Decode(docs[i], &ev);
      ASSERT_TRUE(st.ok()) << docs[i] << ": " << st.ToString();
      EXPECT_EQ(ev.ts, i + 1);
      EXPECT_EQ(ev.fields[kUser], Value::String(std::string(1, static_cast<char>('a' + i))));
      if (i == 0 || i == 1 || i == 3) {
        EXPECT_EQ(ev.fields[kAmount], Value::Double(i + 1.5));
      }
      if (i < 4) {
        EXPECT_EQ(ev.fields[kN], Value::Int64(i + 1));
      }
      if (i >= 4) {
        EXPECT_TRUE(ev.fields[kAmount].is_null());
        EXPECT_TRUE(ev.fields[kN].is_null());
      }
      EXPECT_TRUE(ev.fields[kSeenAt].is_null());
    }
    // An error in between must not leave state behind.
    Event ev;
    EXPECT_FALSE(d.Decode(R"({"ts":1,"user_id":"a","user_id":"b"})", &ev).ok());
  }
}

// ---------------------------------------------------------------------------------------
// JSON-lines files

TEST(DecodeFileTest, JsonLinesDeliversGoodRecordsAroundBadOnes) {
  const std::string content =
      "{\"ts\":1,\"user_id\":\"a\"}\n"                   // 1 good
      "\n"                                               // 2 blank: skipped
      "{\"ts\":2,\"user_id\":\"b\",\"amount\":\"x\"}\n"  // 3 bad type
      "   \t\r\n"                                        // 4 blank (CRLF)
      "{\"ts\":3,\"user_id\":\"c\"}\r\n"                 // 5 good, CRLF
      "not json\n"                                       // 6 bad JSON
      "{\"ts\":4,\"user_id\":\"\xff\"}\n"                // 7 bad UTF-8
      "{\"ts\":5}\n"                                     // 8 missing key
      "{\"ts\":6,\"user_id\":\"f\"}";                    // 9 good, no final newline
  Decoded d = DecodeText(content, InputFormat::kJsonLines);
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  ASSERT_EQ(d.events.size(), 3u);
  EXPECT_EQ(d.events[0].first, 1);
  EXPECT_EQ(d.events[0].second.ts, 1);
  EXPECT_EQ(d.events[1].first, 5);
  EXPECT_EQ(d.events[1].second.fields[kUser], Value::String("c"));
  EXPECT_EQ(d.events[2].first, 9);
  EXPECT_EQ(d.events[2].second.ts, 6);
  ASSERT_EQ(d.rejects.size(), 4u);
  EXPECT_EQ(d.rejects[0].line, 3);
  EXPECT_EQ(d.rejects[0].raw, "{\"ts\":2,\"user_id\":\"b\",\"amount\":\"x\"}");
  EXPECT_EQ(d.rejects[0].reason, "field 'amount': want double, got string \"x\"");
  EXPECT_EQ(d.rejects[1].line, 6);
  EXPECT_EQ(d.rejects[1].raw, "not json");
  EXPECT_TRUE(Contains(d.rejects[1].reason, "bad JSON")) << d.rejects[1].reason;
  EXPECT_EQ(d.rejects[2].line, 7);
  EXPECT_EQ(d.rejects[2].raw, "{\"ts\":4,\"user_id\":\"\xff\"}");
  EXPECT_EQ(d.rejects[2].reason, "not valid UTF-8");
  EXPECT_EQ(d.rejects[3].line, 8);
  EXPECT_EQ(d.rejects[3].reason, "field 'user_id': missing (entity key)");
}

TEST(DecodeFileTest, TenMegabyteLineIsRejectedWhole) {
  std::string huge = "{\"ts\":1,\"user_id\":\"" + std::string(10 * 1024 * 1024, 'x') + "\"}";
  const std::string content = "{\"ts\":1,\"user_id\":\"a\"}\n" + huge + "\n{\"ts\":2,\"user_id\":\"b\"}\n";
  Decoded d = DecodeText(content, InputFormat::kJsonLines);
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  ASSERT_EQ(d.events.size(), 2u);
  EXPECT_EQ(d.events[0].first, 1);
  EXPECT_EQ(d.events[1].first, 3);
  EXPECT_EQ(d.events[1].second.fields[kUser], Value::String("b"));
  ASSERT_EQ(d.rejects.size(), 1u);
  EXPECT_EQ(d.rejects[0].line, 2);
  EXPECT_EQ(d.rejects[0].raw.size(), huge.size());
  EXPECT_TRUE(d.rejects[0].raw == huge);
  EXPECT_EQ(d.rejects[0].reason,
            "record is " + std::to_string(huge.size()) + " bytes, over the 1048576-byte limit");

  // Exactly 10 MiB, as in the documentation of the reason.
  std::string exact = "{\"ts\":1,\"x\":\"" + std::string(10485760 - 15, 'y') + "\"}";
  ASSERT_EQ(exact.size(), 10485760u);
  d = DecodeText(exact, InputFormat::kJsonLines);
  ASSERT_EQ(d.rejects.size(), 1u);
  EXPECT_EQ(d.rejects[0].reason, "record is 10485760 bytes, over the 1048576-byte limit");
}

TEST(DecodeFileTest, ManyLinesAcrossChunkBoundaries) {
  // ~5 MB of lines of varying length: many straddle the 1 MiB read chunks.
  std::string content;
  const int kLines = 60000;
  for (int i = 1; i <= kLines; ++i) {
    content += "{\"ts\":" + std::to_string(i) + ",\"user_id\":\"" +
               std::string(static_cast<size_t>(i % 97), 'u') + "\",\"n\":" + std::to_string(i) + "}";
    content += i % 3 == 0 ? "\r\n" : "\n";
  }
  Decoded d = DecodeText(content, InputFormat::kJsonLines);
  ASSERT_TRUE(d.status.ok());
  EXPECT_TRUE(d.rejects.empty());
  ASSERT_EQ(d.events.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; ++i) {
    ASSERT_EQ(d.events[i].first, i + 1);
    ASSERT_EQ(d.events[i].second.fields[kN], Value::Int64(i + 1));
    ASSERT_EQ(d.events[i].second.fields[kUser].str().size(), static_cast<size_t>((i + 1) % 97));
  }
}

TEST(DecodeFileTest, FileLevelErrorsAndCallbackStatus) {
  auto nothing = [](Event&&, int64_t) { return Status::OK(); };
  auto no_reject = [](RejectedRecord&&) { return Status::OK(); };
  Status st =
      DecodeFile("/nonexistent/dir/events.jsonl", InputFormat::kJsonLines, TxnOptions(), nothing, no_reject);
  EXPECT_EQ(st.code(), Status::Code::kIOError);
  EXPECT_TRUE(Contains(st.message(), "/nonexistent/dir/events.jsonl"));
  st = DecodeFile(::testing::TempDir(), InputFormat::kJsonLines, TxnOptions(), nothing, no_reject);
  EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();

  // A callback's error stops decoding and comes back unchanged.
  TempFile f(".jsonl", "{\"ts\":1,\"user_id\":\"a\"}\n{\"ts\":2,\"user_id\":\"b\"}\nbad\n");
  int calls = 0;
  st = DecodeFile(
      f.path(), InputFormat::kJsonLines, TxnOptions(),
      [&](Event&&, int64_t) {
        ++calls;
        return Status::NotFound("stop here");
      },
      no_reject);
  EXPECT_TRUE(st.IsNotFound());
  EXPECT_EQ(st.message(), "stop here");
  EXPECT_EQ(calls, 1);
  st = DecodeFile(f.path(), InputFormat::kJsonLines, TxnOptions(), nothing,
                  [](RejectedRecord&&) { return Status::IOError("dead-letter full"); });
  EXPECT_EQ(st.message(), "dead-letter full");
}

TEST(DecodeFileTest, SkipsAByteOrderMark) {
  Decoded d = DecodeText("\xEF\xBB\xBF{\"ts\":1,\"user_id\":\"a\"}\n", InputFormat::kJsonLines);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_TRUE(d.rejects.empty());
  d = DecodeText("\xEF\xBB\xBFts,user_id,amount,n,ok,seen_at\n1,a,,,,\n", InputFormat::kCsv);
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  ASSERT_EQ(d.events.size(), 1u);
}

// ---------------------------------------------------------------------------------------
// CSV files

TEST(CsvDecodeTest, DecodesTypedCellsByHeaderName) {
  Decoded d = DecodeText(
      "extra,seen_at,ok,n,amount,user_id,ts\n"
      "zzz,2026-03-01T12:00:00Z,TRUE,-12,1.5e2,u1,1700000000000\n"
      ",5,false,0,-0.25,u2,2026-03-01T12:00:00.5+01:00\n",
      InputFormat::kCsv);
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  ASSERT_TRUE(d.rejects.empty()) << d.rejects[0].reason;
  ASSERT_EQ(d.events.size(), 2u);
  const Event& a = d.events[0].second;
  EXPECT_EQ(d.events[0].first, 2);
  EXPECT_EQ(a.ts, 1700000000000);
  EXPECT_EQ(a.fields[kUser], Value::String("u1"));
  EXPECT_EQ(a.fields[kAmount], Value::Double(150));
  EXPECT_EQ(a.fields[kN], Value::Int64(-12));
  EXPECT_EQ(a.fields[kOk], Value::Bool(true));
  EXPECT_EQ(a.fields[kSeenAt], Value::Timestamp(1772366400000));
  const Event& b = d.events[1].second;
  EXPECT_EQ(d.events[1].first, 3);
  EXPECT_EQ(b.ts, 1772362800500);
  EXPECT_EQ(b.fields[kOk], Value::Bool(false));
  EXPECT_EQ(b.fields[kSeenAt], Value::Timestamp(5));
  EXPECT_EQ(b.fields[kAmount], Value::Double(-0.25));
}

TEST(CsvDecodeTest, EmptyAndQuotedEmptyCells) {
  Decoded d = DecodeText(
      "ts,user_id,amount,n,ok,seen_at\n"
      "1,u,,,,\n"
      "2,\"\",\"\",\"\",\"\",\"\"\n",
      InputFormat::kCsv);
  ASSERT_TRUE(d.rejects.empty()) << d.rejects[0].reason;
  ASSERT_EQ(d.events.size(), 2u);
  for (int i : {kAmount, kN, kOk, kSeenAt}) {
    EXPECT_TRUE(d.events[0].second.fields[i].is_null());
    EXPECT_TRUE(d.events[1].second.fields[i].is_null());  // quoted "" is null for non-strings
  }
  EXPECT_EQ(d.events[1].second.fields[kUser], Value::String(""));  // and "" for strings

  // An empty unquoted entity key is missing.
  d = DecodeText("ts,user_id,amount,n,ok,seen_at\n1,,,,,\n", InputFormat::kCsv);
  ASSERT_EQ(d.rejects.size(), 1u);
  EXPECT_EQ(d.rejects[0].reason, "field 'user_id': empty (entity key)");
  d = DecodeText("ts,user_id,amount,n,ok,seen_at\n,u,,,,\n", InputFormat::kCsv);
  ASSERT_EQ(d.rejects.size(), 1u);
  EXPECT_EQ(d.rejects[0].reason, "field 'ts': empty (event timestamp)");
}

TEST(CsvDecodeTest, QuotedCellsWithCommasQuotesAndNewlines) {
  const std::string multi = "3,\"line one\nline \"\"two\"\"\r\nline, three\",,,,";
  const std::string content =
      "ts,user_id,amount,n,ok,seen_at\r\n"  // line 1
      "1,\"a,b\",,,,\r\n"                   // line 2
      "2,\"say \"\"hi\"\"\",,,,\n"          // line 3
      + multi +
      "\n"               // lines 4-6
      "4,after,,,,\n"    // line 7
      "5,\"x\"y,,,,\n"   // line 8: text after closing quote
      "6,ab\"c,,,,\n"    // line 9: quote inside unquoted cell
      "7,last,,,,\r\n";  // line 10
  Decoded d = DecodeText(content, InputFormat::kCsv);
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  ASSERT_EQ(d.events.size(), 5u);
  EXPECT_EQ(d.events[0].first, 2);
  EXPECT_EQ(d.events[0].second.fields[kUser], Value::String("a,b"));
  EXPECT_EQ(d.events[1].first, 3);
  EXPECT_EQ(d.events[1].second.fields[kUser], Value::String("say \"hi\""));
  EXPECT_EQ(d.events[2].first, 4);
  EXPECT_EQ(d.events[2].second.fields[kUser], Value::String("line one\nline \"two\"\r\nline, three"));
  EXPECT_EQ(d.events[3].first, 7);
  EXPECT_EQ(d.events[3].second.fields[kUser], Value::String("after"));
  EXPECT_EQ(d.events[4].first, 10);
  ASSERT_EQ(d.rejects.size(), 2u);
  EXPECT_EQ(d.rejects[0].line, 8);
  EXPECT_EQ(d.rejects[0].raw, "5,\"x\"y,,,,");
  EXPECT_EQ(d.rejects[0].reason, "cell 2 ('user_id'): unexpected text after the closing quote: y,,,,");
  EXPECT_EQ(d.rejects[1].line, 9);
  EXPECT_TRUE(Contains(d.rejects[1].reason, "cell 2 ('user_id'): quote inside an unquoted cell"))
      << d.rejects[1].reason;
}

TEST(CsvDecodeTest, RejectedMultilineRecordKeepsItsRawBytes) {
  const std::string content =
      "ts,user_id,amount,n,ok,seen_at\n"
      "1,\"multi\r\nline\",oops,,,\r\n"
      "2,ok,,,,\n";
  Decoded d = DecodeText(content, InputFormat::kCsv);
  ASSERT_EQ(d.rejects.size(), 1u);
  EXPECT_EQ(d.rejects[0].line, 2);
  EXPECT_EQ(d.rejects[0].raw, "1,\"multi\r\nline\",oops,,,");
  EXPECT_EQ(d.rejects[0].reason, "field 'amount': want double, got 'oops' (not a number)");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].first, 4);
}

TEST(CsvDecodeTest, UnterminatedQuoteSwallowsTheRestAndIsRejected) {
  Decoded d =
      DecodeText("ts,user_id,amount,n,ok,seen_at\n1,ok,,,,\n2,\"open,,,,\n3,x,,,,\n", InputFormat::kCsv);
  ASSERT_TRUE(d.status.ok());
  ASSERT_EQ(d.events.size(), 1u);
  ASSERT_EQ(d.rejects.size(), 1u);
  EXPECT_EQ(d.rejects[0].line, 3);
  EXPECT_EQ(d.rejects[0].raw, "2,\"open,,,,\n3,x,,,,\n");
  EXPECT_TRUE(Contains(d.rejects[0].reason, "is never closed")) << d.rejects[0].reason;
}

TEST(CsvDecodeTest, WrongCellCount) {
  Decoded d = DecodeText("ts,user_id,amount,n,ok,seen_at\n1,a,,,\n2,b,,,,,\n3,c,,,,\n", InputFormat::kCsv);
  ASSERT_EQ(d.rejects.size(), 2u);
  EXPECT_EQ(d.rejects[0].reason, "record has 5 cells, header has 6");
  EXPECT_EQ(d.rejects[0].line, 2);
  EXPECT_EQ(d.rejects[1].reason, "record has 7 cells, header has 6");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].first, 4);
}

TEST(CsvDecodeTest, StrictTypedText) {
  struct Case {
    const char* cells;  // user_id,amount,n,ok,seen_at
    const char* reason;
  };
  const Case cases[] = {
      {"u,1.5x,,,", "field 'amount': want double, got '1.5x' (not a number)"},
      {"u,nan,,,", "field 'amount': want double, got 'nan' (not a number)"},
      {"u,inf,,,", "field 'amount': want double, got 'inf' (not a number)"},
      {"u,-Infinity,,,", "field 'amount': want double, got '-Infinity' (not a number)"},
      {"u,0x10,,,", "field 'amount': want double, got '0x10' (not a number)"},
      {"u,+1,,,", "field 'amount': want double, got '+1' (not a number)"},
      {"u, 1,,,", "field 'amount': want double, got ' 1' (not a number)"},
      {"u,1e400,,,", "field 'amount': want double, got '1e400' (out of double range)"},
      {"u,,1.5,,", "field 'n': want int64, got '1.5' (not an integer)"},
      {"u,,1e3,,", "field 'n': want int64, got '1e3' (not an integer)"},
      {"u,,+1,,", "field 'n': want int64, got '+1' (not an integer)"},
      {"u,,-,,", "field 'n': want int64, got '-' (not an integer)"},
      {"u,,9223372036854775808,,", "field 'n': want int64, got '9223372036854775808' (out of int64 range)"},
      {"u,,,yes,", "field 'ok': want bool (true or false), got 'yes'"},
      {"u,,,1,", "field 'ok': want bool (true or false), got '1'"},
      {"u,,,,never", "field 'seen_at': bad timestamp 'never'"},
  };
  for (const Case& c : cases) {
    Decoded d =
        DecodeText(std::string("ts,user_id,amount,n,ok,seen_at\n1,") + c.cells + "\n", InputFormat::kCsv);
    ASSERT_EQ(d.rejects.size(), 1u) << c.cells;
    EXPECT_TRUE(d.rejects[0].reason.rfind(c.reason, 0) == 0)
        << c.cells << ": got " << d.rejects[0].reason << ", want " << c.reason;
  }
  Decoded d = DecodeText(
      "ts,user_id,amount,n,ok,seen_at\n"
      "1,u,1e-400,-9223372036854775808,False,-1\n"
      "2,u,.5,007,tRuE,2026-03-01 12:00:00Z\n",
      InputFormat::kCsv);
  ASSERT_TRUE(d.rejects.empty()) << d.rejects[0].reason;
  ASSERT_EQ(d.events.size(), 2u);
  EXPECT_EQ(d.events[0].second.fields[kAmount], Value::Double(0));
  EXPECT_EQ(d.events[0].second.fields[kN], Value::Int64(INT64_MIN));
  EXPECT_EQ(d.events[0].second.fields[kOk], Value::Bool(false));
  EXPECT_EQ(d.events[0].second.fields[kSeenAt], Value::Timestamp(-1));
  EXPECT_EQ(d.events[1].second.fields[kAmount], Value::Double(0.5));
  EXPECT_EQ(d.events[1].second.fields[kN], Value::Int64(7));
  EXPECT_EQ(d.events[1].second.fields[kSeenAt], Value::Timestamp(1772366400000));
}

TEST(CsvDecodeTest, TimestampLimitsAndUtf8) {
  DecodeOptions o = TxnOptions();
  o.max_ts = 1772409600000;
  Decoded d = DecodeText(
      "ts,user_id,amount,n,ok,seen_at\n"
      "4102444800000,u,,,,\n"
      "1,\xff\xfe,,,,\n"
      "2100-01-01T00:00:00Z,u,,,,\n"
      "1772409600000,u,,,,\n",
      InputFormat::kCsv, o);
  ASSERT_EQ(d.rejects.size(), 3u);
  EXPECT_EQ(d.rejects[0].reason,
            "field 'ts': 4102444800000 (2100-01-01T00:00:00.000Z) is after the far-future limit "
            "2026-03-02T00:00:00.000Z");
  EXPECT_EQ(d.rejects[1].reason, "not valid UTF-8");
  EXPECT_EQ(d.rejects[1].raw, "1,\xff\xfe,,,,");
  EXPECT_EQ(d.rejects[2].line, 4);
  EXPECT_TRUE(Contains(d.rejects[2].reason, "far-future"));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].first, 5);
}

TEST(CsvDecodeTest, HeaderErrorsFailTheFile) {
  Decoded d = DecodeText("user_id,n,other\n1,2,3\n", InputFormat::kCsv);
  EXPECT_TRUE(d.status.IsInvalidArgument());
  EXPECT_TRUE(Contains(d.status.message(),
                       ":1: CSV header lacks column(s) 'ts', 'amount', 'ok', 'seen_at' "
                       "(header has: user_id, n, other)"))
      << d.status.message();
  EXPECT_TRUE(d.events.empty());

  d = DecodeText("", InputFormat::kCsv);
  EXPECT_TRUE(Contains(d.status.message(), "empty file")) << d.status.message();
  d = DecodeText("\n\r\n", InputFormat::kCsv);
  EXPECT_TRUE(Contains(d.status.message(), "empty file")) << d.status.message();
  d = DecodeText("ts,user_id,amount,n,ok,seen_at,n\n", InputFormat::kCsv);
  EXPECT_TRUE(Contains(d.status.message(), "column 'n' appears twice")) << d.status.message();
  d = DecodeText("ts,\"user_id,amount,n,ok,seen_at\n", InputFormat::kCsv);
  EXPECT_TRUE(Contains(d.status.message(), "bad CSV header")) << d.status.message();
  d = DecodeText("ts,user_id,amount,n,ok,seen_at,\xff\n", InputFormat::kCsv);
  EXPECT_TRUE(Contains(d.status.message(), "not valid UTF-8")) << d.status.message();
  // Blank lines before the header are skipped; the header's line is reported.
  d = DecodeText("\n\nuser_id\n", InputFormat::kCsv);
  EXPECT_TRUE(Contains(d.status.message(), ":3: CSV header lacks")) << d.status.message();
  // A header only: no events, no error.
  d = DecodeText("ts,user_id,amount,n,ok,seen_at", InputFormat::kCsv);
  EXPECT_TRUE(d.status.ok());
  EXPECT_TRUE(d.events.empty());
}

TEST(CsvDecodeTest, TenMegabyteRecordIsRejectedWhole) {
  const std::string huge =
      "2,\"" + std::string(5 * 1024 * 1024, 'a') + "\n" + std::string(5 * 1024 * 1024, 'b') + "\",,,,";
  const std::string content = "ts,user_id,amount,n,ok,seen_at\n1,u,,,,\n" + huge + "\r\n3,v,,,,\n";
  Decoded d = DecodeText(content, InputFormat::kCsv);
  ASSERT_TRUE(d.status.ok());
  ASSERT_EQ(d.rejects.size(), 1u);
  EXPECT_EQ(d.rejects[0].line, 3);
  EXPECT_TRUE(d.rejects[0].raw == huge);
  EXPECT_EQ(d.rejects[0].reason,
            "record is " + std::to_string(huge.size()) + " bytes, over the 1048576-byte limit");
  ASSERT_EQ(d.events.size(), 2u);
  EXPECT_EQ(d.events[1].first, 5);  // the huge record spans lines 3 and 4
}

// Puts each tricky spot of a record (an escaped quote, a quoted newline, a CRLF) exactly
// on the 1 MiB read-chunk boundary.
TEST(CsvDecodeTest, RecordStateSurvivesChunkBoundaries) {
  constexpr size_t kChunk = 1 << 20;
  const std::string header = "ts,user_id,amount,n,ok,seen_at\n";
  const std::string tricky = "7,\"a\"\"b\nc\",,,,\r\n";
  for (size_t shift = 0; shift < tricky.size(); ++shift) {
    // Filler records so that the tricky record starts `shift` bytes before the boundary
    // (long ones: a few thousand records reach the boundary, not ~80k).
    const std::string filler = "1," + std::string(400, 'f') + ",,,,\n";
    std::string content = header;
    int64_t lines = 1;
    const size_t target = kChunk - tricky.size() + shift;
    while (content.size() + filler.size() + 40 < target) {
      content += filler;
      ++lines;
    }
    const size_t gap = target - content.size();  // one filler record of exact size
    ASSERT_GE(gap, 12u);
    content += "1," + std::string(gap - 7, 'f') + ",,,,\n";
    ++lines;
    ASSERT_EQ(content.size(), target);
    content += tricky;
    content += "8,end,,,,\n";
    Decoded d = DecodeText(content, InputFormat::kCsv);
    ASSERT_TRUE(d.status.ok());
    ASSERT_TRUE(d.rejects.empty()) << "shift " << shift << ": " << d.rejects[0].reason;
    ASSERT_EQ(d.events.size(), static_cast<size_t>(lines + 1));
    const auto& t = d.events[d.events.size() - 2];
    EXPECT_EQ(t.first, lines + 1) << "shift " << shift;
    EXPECT_EQ(t.second.ts, 7);
    EXPECT_EQ(t.second.fields[kUser], Value::String("a\"b\nc")) << "shift " << shift;
    EXPECT_EQ(d.events.back().first, lines + 3) << "shift " << shift;
    EXPECT_EQ(d.events.back().second.fields[kUser], Value::String("end"));
  }
}

// ---------------------------------------------------------------------------------------
// Throughput: printed, not asserted (DESIGN.md §8: performance is measured by benchmarks).

// Wall time, and this thread's CPU time (steadier on a shared machine).
class Stopwatch {
 public:
  double WallSeconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_).count();
  }
  double CpuSeconds() const { return ThreadCpu() - cpu_; }

 private:
  static double ThreadCpu() {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
  }
  std::chrono::steady_clock::time_point wall_ = std::chrono::steady_clock::now();
  double cpu_ = ThreadCpu();
};

TEST(DecodeThroughputTest, JsonDecodeOfOneMillionEvents) {
#if defined(__SANITIZE_ADDRESS__)
  const int kEvents = 25000;
#else
  const int kEvents = 1000000;
#endif
  DecodeOptions o;
  o.schema = Schema({{"txn_id", Type::kString},
                     {"user_id", Type::kString},
                     {"card_id", Type::kString},
                     {"device_id", Type::kString},
                     {"amount", Type::kDouble},
                     {"status", Type::kString},
                     {"ip", Type::kString},
                     {"country", Type::kString}});
  o.required = {1};
  std::string content;
  std::vector<std::string_view> lines;
  std::vector<size_t> offsets;
  for (int i = 0; i < kEvents; ++i) {
    char buf[320];
    int n = std::snprintf(buf, sizeof buf,
                          "{\"ts\":%lld,\"txn_id\":\"t%d\",\"user_id\":\"u%d\",\"card_id\":\"c%d\","
                          "\"device_id\":\"d%d\",\"amount\":%d.%02d,\"status\":\"%s\","
                          "\"ip\":\"10.0.%d.%d\",\"country\":\"FR\"}\n",
                          1700000000000LL + i, i, i % 1000, i % 3000, i % 2000, i % 500, i % 100,
                          i % 10 == 0 ? "failed" : "ok", i % 256, i % 200);
    offsets.push_back(content.size());
    content.append(buf, static_cast<size_t>(n));
  }
  offsets.push_back(content.size());
  for (int i = 0; i < kEvents; ++i) {
    lines.emplace_back(content.data() + offsets[i], offsets[i + 1] - offsets[i] - 1);
  }

  JsonEventDecoder decoder(o);
  Event ev;
  size_t good = 0;
  Stopwatch watch;
  for (std::string_view line : lines) good += decoder.Decode(line, &ev).ok();
  EXPECT_EQ(good, static_cast<size_t>(kEvents));
  std::printf(
      "[ perf     ] JsonEventDecoder: %d events of %.0f B: %.2f M events/s (%.0f MB/s) "
      "per CPU second, %.2f M/s wall\n",
      kEvents, static_cast<double>(content.size()) / kEvents, kEvents / watch.CpuSeconds() / 1e6,
      content.size() / watch.CpuSeconds() / 1e6, kEvents / watch.WallSeconds() / 1e6);

  TempFile f(".jsonl", content);
  size_t delivered = 0;
  watch = Stopwatch();
  Status st = DecodeFile(
      f.path(), InputFormat::kJsonLines, o,
      [&](Event&&, int64_t) {
        ++delivered;
        return Status::OK();
      },
      [](RejectedRecord&&) { return Status::OK(); });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(delivered, static_cast<size_t>(kEvents));
  std::printf("[ perf     ] DecodeFile(jsonl): %.2f M events/s per CPU second, %.2f M/s wall\n",
              kEvents / watch.CpuSeconds() / 1e6, kEvents / watch.WallSeconds() / 1e6);
}

// ---------------------------------------------------------------------------------------
// Parquet

// Writes `rows` of `schema` to a Parquet file, decodes it with TxnOptions-like options.
Decoded DecodeParquetRows(const Schema& schema, const std::vector<Row>& rows, const DecodeOptions& o,
                          int64_t row_group_rows = 3) {
  static int counter = 0;
  const std::string path = ::testing::TempDir() + "vigil_decode_" + std::to_string(::getpid()) + "_pq" +
                           std::to_string(counter++) + ".parquet";
  parquet::WriterOptions wo;
  wo.row_group_rows = row_group_rows;
  auto w = parquet::Writer::Create(path, schema, wo);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  for (const Row& r : rows) EXPECT_TRUE((*w)->WriteRow(r).ok());
  EXPECT_TRUE((*w)->Close().ok());
  Decoded out;
  out.status = DecodeFile(
      path, InputFormat::kParquet, o,
      [&](Event&& ev, int64_t line) {
        out.events.emplace_back(line, std::move(ev));
        return Status::OK();
      },
      [&](RejectedRecord&& r) {
        EXPECT_EQ(r.file, path);
        out.rejects.push_back(std::move(r));
        return Status::OK();
      });
  std::remove(path.c_str());
  return out;
}

TEST(DecodeFileTest, ParquetRowsBecomeEventsAndBadRowsRejectedRecords) {
  // The file has the schema's columns in another order, an extra column, INT64 for the
  // double field, and ts as a timestamp.
  Schema file({{"extra", Type::kString},
               {"n", Type::kInt64},
               {"user_id", Type::kString},
               {"ts", Type::kTimestamp},
               {"amount", Type::kInt64},
               {"ok", Type::kBool},
               {"seen_at", Type::kTimestamp}});
  auto row = [](Value user, Value ts, double amount) {
    return Row{Value::String("x"), Value::Int64(7), std::move(user), std::move(ts),
               Value::Int64(static_cast<int64_t>(amount)), Value::Bool(true), Value::Timestamp(5)};
  };
  DecodeOptions o = TxnOptions();
  o.forbidden_key_bytes = "|";
  o.max_ts = 2'000'000'000'000;
  std::vector<Row> rows = {
      row(Value::String("u1"), Value::Timestamp(1'700'000'000'000), 12),
      row(Value(), Value::Timestamp(1'700'000'000'001), 1),                // null key
      row(Value::String("u2"), Value(), 1),                                 // null ts
      row(Value::String("u3"), Value::Timestamp(-5), 1),                    // before min_ts
      row(Value::String("a|b"), Value::Timestamp(1'700'000'000'002), 1),   // forbidden byte
      row(Value::String("u4"), Value::Timestamp(3'000'000'000'000), 1),    // far future
      row(Value::String("u5"), Value::Timestamp(1'700'000'000'003), -3),
  };
  Decoded d = DecodeParquetRows(file, rows, o);
  ASSERT_TRUE(d.status.ok()) << d.status.ToString();
  ASSERT_EQ(d.events.size(), 2u);
  EXPECT_EQ(d.events[0].first, 1);
  EXPECT_EQ(d.events[0].second.ts, 1'700'000'000'000);
  EXPECT_EQ(d.events[0].second.fields,
            (Row{Value::String("u1"), Value::Double(12), Value::Int64(7), Value::Bool(true), Value::Timestamp(5)}));
  EXPECT_EQ(d.events[1].first, 7);
  EXPECT_EQ(d.events[1].second.fields[kAmount], Value::Double(-3));
  ASSERT_EQ(d.rejects.size(), 5u);
  EXPECT_EQ(d.rejects[0].line, 2);
  EXPECT_EQ(d.rejects[0].reason, "field 'user_id': null (entity key)");
  EXPECT_EQ(d.rejects[0].raw,
            R"({"ts": 1700000000001, "user_id": null, "amount": 1, "n": 7, "ok": true, "seen_at": 5})");
  EXPECT_EQ(d.rejects[1].line, 3);
  EXPECT_EQ(d.rejects[1].reason, "field 'ts': missing (event timestamp)");
  EXPECT_EQ(d.rejects[2].line, 4);
  EXPECT_TRUE(Contains(d.rejects[2].reason, "before the limit")) << d.rejects[2].reason;
  EXPECT_EQ(d.rejects[3].line, 5);
  EXPECT_TRUE(Contains(d.rejects[3].reason, "key contains the byte 0x7c")) << d.rejects[3].reason;
  EXPECT_EQ(d.rejects[4].line, 6);
  EXPECT_TRUE(Contains(d.rejects[4].reason, "far-future")) << d.rejects[4].reason;
}

TEST(DecodeFileTest, ParquetColumnsMissingOrOfTheWrongTypeFailTheFile) {
  DecodeOptions o = TxnOptions();
  auto txn_row = [](Value n) {
    return Row{Value::Timestamp(1), Value::String("u"), Value::Double(1), std::move(n), Value(), Value()};
  };
  // n is a string column, amount fine.
  Schema wrong({{"ts", Type::kTimestamp},
                {"user_id", Type::kString},
                {"amount", Type::kDouble},
                {"n", Type::kString},
                {"ok", Type::kBool},
                {"seen_at", Type::kTimestamp}});
  Decoded d = DecodeParquetRows(wrong, {txn_row(Value::String("1"))}, o);
  EXPECT_TRUE(d.status.IsInvalidArgument()) << d.status.ToString();
  EXPECT_TRUE(Contains(d.status.message(), "column 'n' is string, the schema wants int64")) << d.status.ToString();
  EXPECT_TRUE(d.events.empty());
  // A double column for an int64 field.
  Schema dbl = wrong;
  dbl = Schema({{"ts", Type::kTimestamp},
                {"user_id", Type::kString},
                {"amount", Type::kDouble},
                {"n", Type::kDouble},
                {"ok", Type::kBool},
                {"seen_at", Type::kTimestamp}});
  d = DecodeParquetRows(dbl, {txn_row(Value::Double(1))}, o);
  EXPECT_TRUE(d.status.IsInvalidArgument());
  EXPECT_TRUE(Contains(d.status.message(), "column 'n' is double, the schema wants int64")) << d.status.ToString();
  // Missing columns are all named.
  Schema few({{"user_id", Type::kString}, {"amount", Type::kDouble}});
  d = DecodeParquetRows(few, {{Value::String("u"), Value::Double(1)}}, o);
  EXPECT_TRUE(d.status.IsInvalidArgument());
  EXPECT_TRUE(Contains(d.status.message(), "missing column(s) 'ts', 'n', 'ok', 'seen_at'")) << d.status.ToString();
  // A file that is not Parquet: Corruption naming it.
  TempFile f(".parquet", "not parquet at all");
  Status st = DecodeFile(f.path(), InputFormat::kParquet, o, [](Event&&, int64_t) { return Status::OK(); },
                         [](RejectedRecord&&) { return Status::OK(); });
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), f.path()));
}

}  // namespace event_decoder_test
}  // namespace vigil
