#include "spec/expr.h"
#include "schema/value_test_util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <ostream>
#include <string>
#include <thread>

namespace vigil {

namespace expr_test {

// The row layout the tests compile against.
enum Slot : int {
  kAmount = 0,    // double
  kStatus = 1,    // string
  kN = 2,         // int64
  kM = 3,         // int64
  kP = 4,         // bool
  kQ = 5,         // bool
  kTs = 6,        // timestamp
  kTxnCount = 7,  // int64, "user_txn.txn_count_1h"
  kCountry = 8,   // string
  kX = 9,         // double
  kRowSize = 10,
};

const std::map<std::string, ExprSlot, std::less<>>& Fields() {
  static const auto* fields = new std::map<std::string, ExprSlot, std::less<>>{
      {"amount", {kAmount, Type::kDouble}},
      {"status", {kStatus, Type::kString}},
      {"n", {kN, Type::kInt64}},
      {"m", {kM, Type::kInt64}},
      {"p", {kP, Type::kBool}},
      {"q", {kQ, Type::kBool}},
      {"ts", {kTs, Type::kTimestamp}},
      {"user_txn.txn_count_1h", {kTxnCount, Type::kInt64}},
      {"country", {kCountry, Type::kString}},
      {"x", {kX, Type::kDouble}},
      // Names that are also function names or contain keywords are still fields.
      {"log", {kN, Type::kInt64}},
      {"notes", {kStatus, Type::kString}},
  };
  return *fields;
}

NameResolver Names() {
  return [](std::string_view name, ExprSlot* slot) {
    auto it = Fields().find(name);
    if (it == Fields().end()) return false;
    *slot = it->second;
    return true;
  };
}

std::unique_ptr<Expr> MustCompile(std::string_view text) {
  auto r = Expr::Compile(text, Names());
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

Row EmptyRow() { return Row(kRowSize); }

// Evaluates `text` on `row` (all nulls by default).
Value Eval(std::string_view text, const Row& row = EmptyRow()) {
  auto e = MustCompile(text);
  return e ? e->Evaluate(row) : Value::String("<compile error>");
}

// The compile error message for `text`, or "" if it compiled.
std::string CompileError(std::string_view text) {
  auto r = Expr::Compile(text, Names());
  if (r.ok()) return "";
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  return r.status().message();
}

Value B(bool v) { return Value::Bool(v); }
Value I(int64_t v) { return Value::Int64(v); }
Value D(double v) { return Value::Double(v); }
Value S(std::string v) { return Value::String(std::move(v)); }
const Value kNull = Value::Null();

// ---------------------------------------------------------------------------------------
// Null semantics

// Three-valued truth: 1 true, 0 false, -1 null.
Value Tri(int v) { return v < 0 ? kNull : B(v == 1); }
const char* TriText(int v) { return v < 0 ? "null" : (v == 1 ? "true" : "false"); }

TEST(ExprNullTest, AndOrTruthTables) {
  // Rows: p, q, p and q, p or q (SQL three-valued logic).
  const int table[9][4] = {
      {1, 1, 1, 1},   {1, 0, 0, 1},   {1, -1, -1, 1}, {0, 1, 0, 1},     {0, 0, 0, 0},
      {0, -1, 0, -1}, {-1, 1, -1, 1}, {-1, 0, 0, -1}, {-1, -1, -1, -1},
  };
  auto and_e = MustCompile("p and q");
  auto or_e = MustCompile("p or q");
  for (const auto& r : table) {
    Row row = EmptyRow();
    row[kP] = Tri(r[0]);
    row[kQ] = Tri(r[1]);
    std::string lit = std::string(TriText(r[0])) + " %s " + TriText(r[1]);
    SCOPED_TRACE(lit);
    // Evaluated per row from fields...
    EXPECT_EQ(and_e->Evaluate(row), Tri(r[2]));
    EXPECT_EQ(or_e->Evaluate(row), Tri(r[3]));
    EXPECT_EQ(and_e->Matches(row), r[2] == 1);
    EXPECT_EQ(or_e->Matches(row), r[3] == 1);
    // ...and folded at compile time from literals: the same answers.
    EXPECT_EQ(Eval(std::string(TriText(r[0])) + " and " + TriText(r[1])), Tri(r[2]));
    EXPECT_EQ(Eval(std::string(TriText(r[0])) + " or " + TriText(r[1])), Tri(r[3]));
  }
}

TEST(ExprNullTest, NotTruthTable) {
  auto e = MustCompile("not p");
  for (int v : {1, 0, -1}) {
    Row row = EmptyRow();
    row[kP] = Tri(v);
    EXPECT_EQ(e->Evaluate(row), Tri(v < 0 ? -1 : 1 - v)) << TriText(v);
  }
  EXPECT_EQ(Eval("not null"), kNull);
  EXPECT_EQ(Eval("not true"), B(false));
  EXPECT_EQ(Eval("not not false"), B(false));
}

TEST(ExprNullTest, NaryAndOrShortCircuitAndNull) {
  Row row = EmptyRow();
  row[kP] = B(true);
  // null anywhere, no false: null; one false decides and.
  EXPECT_EQ(Eval("p and q and p", row), kNull);
  EXPECT_EQ(Eval("p and q and false", row), B(false));
  EXPECT_EQ(Eval("q or q or p", row), B(true));
  EXPECT_EQ(Eval("q or false or q", row), kNull);
}

TEST(ExprNullTest, ArithmeticAndComparisonWithNull) {
  EXPECT_EQ(Eval("1 + null"), kNull);
  EXPECT_EQ(Eval("n + 1"), kNull);  // n is null in the empty row
  EXPECT_EQ(Eval("n * 0"), kNull);
  EXPECT_EQ(Eval("null = null"), kNull);
  EXPECT_EQ(Eval("null != 1"), kNull);
  EXPECT_EQ(Eval("n = 1"), kNull);
  EXPECT_EQ(Eval("status = 'failed'"), kNull);
  EXPECT_EQ(Eval("-null"), kNull);
  EXPECT_EQ(MustCompile("n + 1")->result_type(), Type::kInt64);
  EXPECT_EQ(MustCompile("n = 1")->result_type(), Type::kBool);
}

TEST(ExprNullTest, IsNullIsNeverNull) {
  Row row = EmptyRow();
  EXPECT_EQ(Eval("n is null", row), B(true));
  EXPECT_EQ(Eval("n is not null", row), B(false));
  EXPECT_EQ(Eval("null is null"), B(true));
  EXPECT_EQ(Eval("NULL IS NOT NULL"), B(false));
  EXPECT_EQ(Eval("(n + 1) is null", row), B(true));
  EXPECT_EQ(Eval("1 / 0 is null"), B(true));
  row[kN] = I(0);
  EXPECT_EQ(Eval("n is null", row), B(false));
  EXPECT_EQ(Eval("n is not null", row), B(true));
  EXPECT_EQ(Eval("status is null and n is not null", row), B(true));
}

TEST(ExprNullTest, InWithNulls) {
  Row row = EmptyRow();
  row[kN] = I(2);
  EXPECT_EQ(Eval("n in (1, 2, 3)", row), B(true));
  EXPECT_EQ(Eval("n in (1, 3)", row), B(false));
  EXPECT_EQ(Eval("n in (1, null)", row), kNull);    // no match, a null element
  EXPECT_EQ(Eval("n in (null, 2)", row), B(true));  // a match wins over null
  EXPECT_EQ(Eval("n not in (1, 3)", row), B(true));
  EXPECT_EQ(Eval("n not in (1, 2)", row), B(false));
  EXPECT_EQ(Eval("n not in (1, null)", row), kNull);
  EXPECT_EQ(Eval("m in (1, 2)", row), kNull);  // x null
  EXPECT_EQ(Eval("m not in (1, 2)", row), kNull);
  EXPECT_EQ(Eval("null in (1, 2)"), kNull);
  // Elements may be expressions, including fields that are null.
  row[kM] = I(1);
  EXPECT_EQ(Eval("n in (m, m + 1)", row), B(true));
  EXPECT_EQ(Eval("n in (m, x)", row), kNull);  // x is null
  EXPECT_FALSE(MustCompile("n in (1, null)")->Matches(row));
  EXPECT_TRUE(MustCompile("n not in (1, 3)")->Matches(row));
}

TEST(ExprNullTest, LongInListsUseTheSameSemantics) {
  // More than 8 constant elements: looked up in a sorted set.
  const std::string ints = "(9, 3, 27, 1, 81, 5, 7, 11, 13, 15)";
  auto in = MustCompile("n in " + ints);
  auto not_in = MustCompile("n not in " + ints);
  auto with_null = MustCompile("n in (9, 3, 27, 1, 81, 5, 7, 11, 13, null)");
  Row row = EmptyRow();
  for (int64_t v = 0; v <= 90; ++v) {
    row[kN] = I(v);
    bool member =
        v == 9 || v == 3 || v == 27 || v == 1 || v == 81 || v == 5 || v == 7 || v == 11 || v == 13 || v == 15;
    EXPECT_EQ(in->Evaluate(row), B(member)) << v;
    EXPECT_EQ(not_in->Evaluate(row), B(!member)) << v;
    bool member2 = member && v != 15;
    EXPECT_EQ(with_null->Evaluate(row), member2 ? B(true) : kNull) << v;
  }
  row[kN] = kNull;
  EXPECT_EQ(in->Evaluate(row), kNull);

  auto strings =
      MustCompile("country in ('fr', 'de', 'it', 'es', 'pt', 'nl', 'be', 'at', 'ch', 'lu', 'it''s')");
  row[kCountry] = S("nl");
  EXPECT_TRUE(strings->Matches(row));
  row[kCountry] = S("it's");
  EXPECT_TRUE(strings->Matches(row));
  row[kCountry] = S("us");
  EXPECT_EQ(strings->Evaluate(row), B(false));
  row[kCountry] = S("");
  EXPECT_EQ(strings->Evaluate(row), B(false));

  // Mixed int64/double elements compare as doubles.
  auto doubles = MustCompile("amount in (1, 2.5, 3, 4, 5, 6, 7, 8, 9, -0.5)");
  row[kAmount] = D(2.5);
  EXPECT_EQ(doubles->Evaluate(row), B(true));
  row[kAmount] = D(9.0);
  EXPECT_EQ(doubles->Evaluate(row), B(true));
  row[kAmount] = D(-0.5);
  EXPECT_EQ(doubles->Evaluate(row), B(true));
  row[kAmount] = D(2.0);
  EXPECT_EQ(doubles->Evaluate(row), B(false));
}

TEST(ExprNullTest, WhereFilterExample) {
  auto where = MustCompile("status == 'failed' and amount > 100");
  EXPECT_EQ(where->result_type(), Type::kBool);
  EXPECT_EQ(where->inputs(), (std::vector<int>{kAmount, kStatus}));
  EXPECT_EQ(where->text(), "status == 'failed' and amount > 100");
  Row row = EmptyRow();
  row[kStatus] = S("failed");
  row[kAmount] = D(150.5);
  EXPECT_TRUE(where->Matches(row));
  EXPECT_EQ(where->Evaluate(row), B(true));
  row[kAmount] = D(100.0);
  EXPECT_FALSE(where->Matches(row));  // not > 100
  EXPECT_EQ(where->Evaluate(row), B(false));
  row[kAmount] = D(1000.0);
  row[kStatus] = S("ok");
  EXPECT_FALSE(where->Matches(row));
  row[kStatus] = S("FAILED");  // case-sensitive
  EXPECT_FALSE(where->Matches(row));
  row[kStatus] = kNull;  // null status: the where is null, so the row is filtered out
  EXPECT_EQ(where->Evaluate(row), kNull);
  EXPECT_FALSE(where->Matches(row));
  row[kStatus] = S("failed");
  row[kAmount] = kNull;
  EXPECT_FALSE(where->Matches(row));
  // A where over a short row reads the missing slots as null.
  EXPECT_FALSE(where->Matches(Row{}));
}

// ---------------------------------------------------------------------------------------
// Types and arithmetic

TEST(ExprArithmeticTest, LiteralTypes) {
  EXPECT_EQ(Eval("42"), I(42));
  EXPECT_EQ(Eval("1.5"), D(1.5));
  EXPECT_EQ(Eval(".5"), D(0.5));
  EXPECT_EQ(Eval("1e3"), D(1000.0));
  EXPECT_EQ(Eval("2.5E-1"), D(0.25));
  EXPECT_EQ(Eval("'it''s'"), S("it's"));
  EXPECT_EQ(Eval("''"), S(""));
  EXPECT_EQ(Eval("TRUE"), B(true));
  EXPECT_EQ(Eval("False"), B(false));
  EXPECT_EQ(Eval("null"), kNull);
  EXPECT_EQ(MustCompile("null")->result_type(), Type::kNull);
  EXPECT_EQ(MustCompile("42")->result_type(), Type::kInt64);
  EXPECT_EQ(MustCompile("4.0")->result_type(), Type::kDouble);
  EXPECT_EQ(MustCompile("'a'")->result_type(), Type::kString);
  EXPECT_EQ(Eval("9223372036854775807"), I(INT64_MAX));
  EXPECT_EQ(Eval("-9223372036854775808"), I(INT64_MIN));
  EXPECT_EQ(Eval("-5"), I(-5));
  EXPECT_EQ(Eval("- -5"), I(5));
}

TEST(ExprArithmeticTest, IntAndDoubleTypes) {
  Row row = EmptyRow();
  row[kN] = I(7);
  row[kM] = I(2);
  row[kAmount] = D(0.5);
  EXPECT_EQ(Eval("n + m", row), I(9));
  EXPECT_EQ(Eval("n - m", row), I(5));
  EXPECT_EQ(Eval("n * m", row), I(14));
  EXPECT_EQ(Eval("n / m", row), D(3.5));  // / always gives double
  EXPECT_EQ(Eval("6 / 3"), D(2.0));
  EXPECT_EQ(MustCompile("n / m")->result_type(), Type::kDouble);
  EXPECT_EQ(Eval("n + amount", row), D(7.5));
  EXPECT_EQ(Eval("amount * m", row), D(1.0));
  EXPECT_EQ(MustCompile("n + amount")->result_type(), Type::kDouble);
  EXPECT_EQ(MustCompile("n * m")->result_type(), Type::kInt64);
  EXPECT_EQ(Eval("-n", row), I(-7));
  EXPECT_EQ(Eval("-amount", row), D(-0.5));
  EXPECT_EQ(Eval("0.1 + 0.2"), D(0.1 + 0.2));
  EXPECT_EQ(Eval("user_txn.txn_count_1h + 1",
                 Row{Value(), Value(), Value(), Value(), Value(), Value(), Value(), I(41)}),
            I(42));
}

TEST(ExprArithmeticTest, DivisionByZeroIsNull) {
  Row row = EmptyRow();
  row[kN] = I(0);
  row[kAmount] = D(0.0);
  EXPECT_EQ(Eval("1 / 0"), kNull);
  EXPECT_EQ(Eval("1.5 / 0.0"), kNull);
  EXPECT_EQ(Eval("0 / 0"), kNull);
  EXPECT_EQ(Eval("5 / n", row), kNull);
  EXPECT_EQ(Eval("5 / amount", row), kNull);
  EXPECT_EQ(Eval("5 / -amount", row), kNull);  // -0.0
  EXPECT_EQ(Eval("0 / 5"), D(0.0));
  EXPECT_EQ(MustCompile("1 / 0")->result_type(), Type::kDouble);
}

TEST(ExprArithmeticTest, Int64OverflowIsNull) {
  Row row = EmptyRow();
  row[kN] = I(INT64_MAX);
  row[kM] = I(INT64_MIN);
  EXPECT_EQ(Eval("n + 1", row), kNull);
  EXPECT_EQ(Eval("n + 0", row), I(INT64_MAX));
  EXPECT_EQ(Eval("m - 1", row), kNull);
  EXPECT_EQ(Eval("m + 1", row), I(INT64_MIN + 1));
  EXPECT_EQ(Eval("n * 2", row), kNull);
  EXPECT_EQ(Eval("m * -1", row), kNull);
  EXPECT_EQ(Eval("-m", row), kNull);
  EXPECT_EQ(Eval("-n", row), I(-INT64_MAX));
  EXPECT_EQ(Eval("9223372036854775807 + 1"), kNull);  // folded at compile time
  EXPECT_EQ(Eval("-(-9223372036854775808)"), kNull);
  // Double results that would be infinite are null.
  EXPECT_EQ(Eval("1e308 * 10"), kNull);
  EXPECT_EQ(Eval("-1e308 - 1e308"), kNull);
  EXPECT_EQ(Eval("1e308 / 1e-10"), kNull);
  // Comparing an int64 with a double goes through doubles.
  EXPECT_EQ(Eval("n > 1e18", row), B(true));
}

TEST(ExprArithmeticTest, Comparisons) {
  Row row = EmptyRow();
  row[kN] = I(3);
  row[kAmount] = D(3.0);
  row[kStatus] = S("b");
  for (const char* op : {"=", "=="}) {
    EXPECT_EQ(Eval(std::string("n ") + op + " 3", row), B(true)) << op;
    EXPECT_EQ(Eval(std::string("n ") + op + " amount", row), B(true)) << op;
  }
  for (const char* op : {"!=", "<>"}) {
    EXPECT_EQ(Eval(std::string("n ") + op + " 3", row), B(false)) << op;
    EXPECT_EQ(Eval(std::string("n ") + op + " 4", row), B(true)) << op;
  }
  EXPECT_EQ(Eval("n < 4", row), B(true));
  EXPECT_EQ(Eval("n < 3", row), B(false));
  EXPECT_EQ(Eval("n <= 3", row), B(true));
  EXPECT_EQ(Eval("n > 2.5", row), B(true));
  EXPECT_EQ(Eval("n >= 3.5", row), B(false));
  EXPECT_EQ(Eval("amount >= n", row), B(true));
  // Exact int64 comparison: these differ by 1 beyond double precision.
  EXPECT_EQ(Eval("9007199254740993 > 9007199254740992"), B(true));
  EXPECT_EQ(Eval("9007199254740993 = 9007199254740992"), B(false));
  // Strings compare bytewise (so 'B' < 'a', and UTF-8 bytes sort after ASCII).
  EXPECT_EQ(Eval("status < 'c'", row), B(true));
  EXPECT_EQ(Eval("status > 'B'", row), B(true));
  EXPECT_EQ(Eval("'B' < 'a'"), B(true));
  EXPECT_EQ(Eval("'ab' < 'abc'"), B(true));
  EXPECT_EQ(Eval("'z' < '\xc3\xa9'"), B(true));
  EXPECT_EQ(Eval("status = 'b'", row), B(true));
  // Bools compare for equality.
  row[kP] = B(true);
  EXPECT_EQ(Eval("p = true", row), B(true));
  EXPECT_EQ(Eval("p != (1 > 2)", row), B(true));
}

TEST(ExprArithmeticTest, TimestampsBehaveAsInt64) {
  Row row = EmptyRow();
  row[kTs] = Value::Timestamp(1'700'000'000'000);
  EXPECT_EQ(Eval("ts", row), Value::Timestamp(1'700'000'000'000));
  EXPECT_EQ(MustCompile("ts")->result_type(), Type::kTimestamp);
  EXPECT_EQ(Eval("ts + 1000", row), I(1'700'000'001'000));
  EXPECT_EQ(MustCompile("ts + 1000")->result_type(), Type::kInt64);
  EXPECT_EQ(Eval("ts - ts", row), I(0));
  EXPECT_EQ(Eval("ts > 1699999999999", row), B(true));
  EXPECT_EQ(Eval("ts = 1700000000000", row), B(true));
  EXPECT_EQ(Eval("ts / 1000", row), D(1'700'000'000.0));
  EXPECT_EQ(Eval("coalesce(ts, 0)", row), I(1'700'000'000'000));
  EXPECT_EQ(Eval("abs(ts)", row), Value::Timestamp(1'700'000'000'000));
}

TEST(ExprArithmeticTest, MismatchedRowValues) {
  // An int64 value in a double slot converts; other mismatches read as null.
  Row row = EmptyRow();
  row[kAmount] = I(5);
  EXPECT_EQ(Eval("amount", row), D(5.0));
  row[kAmount] = S("5");
  EXPECT_EQ(Eval("amount", row), kNull);
  row[kN] = D(5.0);
  EXPECT_EQ(Eval("n", row), kNull);
  row[kN] = Value::Timestamp(5);
  EXPECT_EQ(Eval("n", row), I(5));
}

// ---------------------------------------------------------------------------------------
// Functions

TEST(ExprFunctionTest, Abs) {
  EXPECT_EQ(Eval("abs(-3)"), I(3));
  EXPECT_EQ(Eval("abs(3)"), I(3));
  EXPECT_EQ(Eval("abs(-2.5)"), D(2.5));
  EXPECT_EQ(Eval("abs(null)"), kNull);
  EXPECT_EQ(Eval("abs(-9223372036854775808)"), kNull);  // overflow
  EXPECT_EQ(Eval("ABS(-1)"), I(1));
  EXPECT_EQ(MustCompile("abs(n)")->result_type(), Type::kInt64);
  EXPECT_EQ(MustCompile("abs(amount)")->result_type(), Type::kDouble);
  Row row = EmptyRow();
  row[kN] = I(-9);
  EXPECT_EQ(Eval("abs(n)", row), I(9));
}

TEST(ExprFunctionTest, LogAndExp) {
  EXPECT_EQ(Eval("log(1)"), D(0.0));
  EXPECT_EQ(Eval("log(exp(2))"), D(std::log(std::exp(2.0))));
  EXPECT_EQ(Eval("log(10)"), D(std::log(10.0)));
  EXPECT_EQ(Eval("log(0)"), kNull);
  EXPECT_EQ(Eval("log(-1)"), kNull);
  EXPECT_EQ(Eval("log(null)"), kNull);
  EXPECT_EQ(Eval("exp(0)"), D(1.0));
  EXPECT_EQ(Eval("exp(1)"), D(std::exp(1.0)));
  EXPECT_EQ(Eval("exp(1000)"), kNull);  // infinite
  EXPECT_EQ(Eval("exp(-1000)"), D(0.0));
  EXPECT_EQ(Eval("Exp(null)"), kNull);
  EXPECT_EQ(MustCompile("log(n)")->result_type(), Type::kDouble);
  EXPECT_EQ(MustCompile("exp(n)")->result_type(), Type::kDouble);
  Row row = EmptyRow();
  row[kAmount] = D(100.0);
  EXPECT_EQ(Eval("log(amount + 1)", row), D(std::log(101.0)));
  // A field may be called like a function.
  row[kN] = I(4);
  EXPECT_EQ(Eval("log + log(log)", row), D(4 + std::log(4.0)));
}

TEST(ExprFunctionTest, MinMaxSkipNulls) {
  EXPECT_EQ(Eval("min(3, 1, 2)"), I(1));
  EXPECT_EQ(Eval("max(3, 1, 2)"), I(3));
  EXPECT_EQ(Eval("min(3, null, 1)"), I(1));
  EXPECT_EQ(Eval("max(null, 2)"), I(2));
  EXPECT_EQ(Eval("min(null, null)"), kNull);
  EXPECT_EQ(Eval("min(1, 2.5)"), D(1.0));  // mixed: double
  EXPECT_EQ(MustCompile("min(1, 2.5)")->result_type(), Type::kDouble);
  EXPECT_EQ(Eval("max(1, 2.5)"), D(2.5));
  EXPECT_EQ(Eval("min('b', 'a', 'c')"), S("a"));
  EXPECT_EQ(Eval("max('b', 'a', 'c')"), S("c"));
  Row row = EmptyRow();
  row[kN] = I(-4);
  row[kAmount] = D(7.25);
  EXPECT_EQ(Eval("max(n, amount)", row), D(7.25));
  EXPECT_EQ(Eval("min(n, amount)", row), D(-4.0));
  EXPECT_EQ(Eval("min(n, m)", row), I(-4));  // m is null: skipped
  EXPECT_EQ(Eval("MAX(m, x)", row), kNull);  // both null
}

TEST(ExprFunctionTest, Coalesce) {
  EXPECT_EQ(Eval("coalesce(null, 2, 3)"), I(2));
  EXPECT_EQ(Eval("coalesce(null, null)"), kNull);
  EXPECT_EQ(Eval("coalesce(5)"), I(5));
  EXPECT_EQ(Eval("coalesce(null, 'x')"), S("x"));
  Row row = EmptyRow();
  EXPECT_EQ(Eval("coalesce(n, m, 0)", row), I(0));
  row[kM] = I(8);
  EXPECT_EQ(Eval("coalesce(n, m, 0)", row), I(8));
  // int64 widens to double when the arguments mix.
  EXPECT_EQ(Eval("coalesce(m, amount)", row), D(8.0));
  EXPECT_EQ(MustCompile("coalesce(m, amount)")->result_type(), Type::kDouble);
  EXPECT_EQ(Eval("coalesce(p, false)", row), B(false));
}

TEST(ExprFunctionTest, If) {
  Row row = EmptyRow();
  EXPECT_EQ(Eval("if(true, 1, 2)"), I(1));
  EXPECT_EQ(Eval("if(false, 1, 2)"), I(2));
  EXPECT_EQ(Eval("if(null, 1, 2)"), I(2));    // null condition: else branch
  EXPECT_EQ(Eval("if(p, 1, 2)", row), I(2));  // p is null
  row[kP] = B(true);
  EXPECT_EQ(Eval("if(p, 1, 2)", row), I(1));
  EXPECT_EQ(Eval("if(p, 1, 2.5)", row), D(1.0));
  EXPECT_EQ(MustCompile("if(p, 1, 2.5)")->result_type(), Type::kDouble);
  EXPECT_EQ(Eval("if(p, null, 'no')", row), kNull);
  EXPECT_EQ(MustCompile("if(p, null, 'no')")->result_type(), Type::kString);
  row[kN] = I(0);
  EXPECT_EQ(Eval("IF(n = 0, 0.0, 10 / n)", row), D(0.0));
  // Only the chosen branch matters: the other one's null does not leak.
  EXPECT_EQ(Eval("if(n = 0, 1, n / 0)", row), D(1.0));
}

TEST(ExprFunctionTest, Lower) {
  Row row = EmptyRow();
  row[kCountry] = S("FRance-\xc3\x89");  // non-ASCII bytes are kept
  EXPECT_EQ(Eval("lower(country)", row), S("france-\xc3\x89"));
  EXPECT_EQ(Eval("lower('ABC xyz 1_2')"), S("abc xyz 1_2"));
  EXPECT_EQ(Eval("lower(null)"), kNull);
  EXPECT_EQ(MustCompile("lower(null)")->result_type(), Type::kString);
  EXPECT_EQ(Eval("LOWER(status)", row), kNull);
  row[kCountry] = S("A Long Country Name That Does Not Fit In Small Strings");
  EXPECT_TRUE(MustCompile("lower(country) = 'a long country name that does not fit in small "
                          "strings'")
                  ->Matches(row));
  EXPECT_TRUE(MustCompile("lower(country) in ('x', lower(country))")->Matches(row));
}

// ---------------------------------------------------------------------------------------
// Syntax

TEST(ExprSyntaxTest, Precedence) {
  EXPECT_EQ(Eval("1 + 2 * 3"), I(7));
  EXPECT_EQ(Eval("(1 + 2) * 3"), I(9));
  EXPECT_EQ(Eval("10 - 4 - 3"), I(3));  // left-associative
  EXPECT_EQ(Eval("2 * 3 / 4"), D(1.5));
  EXPECT_EQ(Eval("8 / 4 / 2"), D(1.0));
  EXPECT_EQ(Eval("-2 * 3"), I(-6));
  EXPECT_EQ(Eval("-(2 + 3)"), I(-5));
  EXPECT_EQ(Eval("2 - -3"), I(5));
  EXPECT_EQ(Eval("1 + 2 = 3"), B(true));  // arithmetic binds tighter than =
  EXPECT_EQ(Eval("1 + 1 in (2, 3)"), B(true));
  // and binds tighter than or.
  EXPECT_EQ(Eval("true or true and false"), B(true));
  EXPECT_EQ(Eval("(true or true) and false"), B(false));
  // not binds looser than comparisons, tighter than and.
  EXPECT_EQ(Eval("not 1 = 2"), B(true));
  EXPECT_EQ(Eval("not true and false"), B(false));
  EXPECT_EQ(Eval("not (true and false)"), B(true));
  EXPECT_EQ(Eval("not false or false"), B(true));
  EXPECT_EQ(Eval("not 2 in (1, 3)"), B(true));
  EXPECT_EQ(Eval("not null is null"), B(false));
  // Keywords are case-insensitive; whitespace is free.
  EXPECT_EQ(Eval("1=1 AND 2=2"), B(true));
  EXPECT_EQ(Eval("\tTrue\nOr\r\nFALSE "), B(true));
}

TEST(ExprSyntaxTest, InputsAreSortedAndUnique) {
  auto e = MustCompile("coalesce(x, amount) > n and x < n + user_txn.txn_count_1h");
  EXPECT_EQ(e->inputs(), (std::vector<int>{kAmount, kN, kTxnCount, kX}));
  EXPECT_TRUE(MustCompile("1 + 2")->inputs().empty());
  // Names with dots and names that start with a keyword resolve as fields.
  Row row = EmptyRow();
  row[kStatus] = S("x");
  EXPECT_EQ(Eval("notes", row), S("x"));
  EXPECT_EQ(MustCompile("notes")->inputs(), std::vector<int>{kStatus});
}

TEST(ExprSyntaxTest, ConcurrentEvaluation) {
  auto e = MustCompile("lower(status) in ('a', 'b') and n * 2 > m");
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        Row row = EmptyRow();
        row[kStatus] = S((i + t) % 2 ? "A" : "C");
        row[kN] = I(i);
        row[kM] = I(i);
        bool want = (i + t) % 2 == 1 && i > 0;
        if (e->Matches(row) != want) wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// ---------------------------------------------------------------------------------------
// Errors: each names the column and the offending token.

TEST(ExprErrorTest, UnknownField) {
  EXPECT_EQ(CompileError("stauts == 'failed'"),
            "at column 1: unknown field 'stauts' in \"stauts == 'failed'\"");
  EXPECT_EQ(CompileError("amount > 1 and stauts == 'failed'"),
            "at column 16: unknown field 'stauts' in \"amount > 1 and stauts == 'failed'\"");
  EXPECT_EQ(CompileError("user_txn.count"),
            "at column 1: unknown field 'user_txn.count' in \"user_txn.count\"");
  EXPECT_EQ(CompileError("Amount"), "at column 1: unknown field 'Amount' in \"Amount\"");
  // No resolver at all: every name is unknown.
  auto r = Expr::Compile("a", NameResolver());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "at column 1: unknown field 'a' in \"a\"");
}

TEST(ExprErrorTest, UnknownFunctionAndArgumentCount) {
  EXPECT_EQ(CompileError("sqrt(4)"),
            "at column 1: unknown function 'sqrt' (functions: abs, coalesce, exp, if, log, "
            "lower, max, min) in \"sqrt(4)\"");
  EXPECT_EQ(CompileError("1 + abs(1, 2)"),
            "at column 5: abs() takes 1 argument, found 2 in \"1 + abs(1, 2)\"");
  EXPECT_EQ(CompileError("min(1)"),
            "at column 1: min() takes at least 2 arguments, found 1 in "
            "\"min(1)\"");
  EXPECT_EQ(CompileError("max()"), "at column 1: max() takes at least 2 arguments, found 0 in \"max()\"");
  EXPECT_EQ(CompileError("if(true, 1)"), "at column 1: if() takes 3 arguments, found 2 in \"if(true, 1)\"");
  EXPECT_EQ(CompileError("coalesce()"),
            "at column 1: coalesce() takes at least 1 argument, found 0 in \"coalesce()\"");
  EXPECT_EQ(CompileError("lower()"), "at column 1: lower() takes 1 argument, found 0 in \"lower()\"");
}

TEST(ExprErrorTest, ArithmeticTypeErrors) {
  EXPECT_EQ(CompileError("'a' + 1"),
            "at column 1: '+' needs numbers, found string 'a' in "
            "\"'a' + 1\"");
  EXPECT_EQ(CompileError("n * status"),
            "at column 5: '*' needs numbers, found string 'status' in \"n * status\"");
  EXPECT_EQ(CompileError("1 - true"), "at column 5: '-' needs numbers, found bool 'true' in \"1 - true\"");
  EXPECT_EQ(CompileError("-status"), "at column 2: '-' needs numbers, found string 'status' in \"-status\"");
  EXPECT_EQ(CompileError("(n > 1) / 2"),
            "at column 2: '/' needs numbers, found bool 'n > 1' in \"(n > 1) / 2\"");
}

TEST(ExprErrorTest, ComparisonTypeErrors) {
  EXPECT_EQ(CompileError("status = 5"),
            "at column 10: cannot compare string 'status' with int64 '5' in \"status = 5\"");
  EXPECT_EQ(CompileError("amount < 'x'"),
            "at column 10: cannot compare double 'amount' with string 'x' in \"amount < 'x'\"");
  EXPECT_EQ(CompileError("p = 1"), "at column 5: cannot compare bool 'p' with int64 '1' in \"p = 1\"");
  EXPECT_EQ(CompileError("p < q"),
            "at column 3: bool values have no order: '<' applies to numbers and strings; use = "
            "or != for bools in \"p < q\"");
  EXPECT_EQ(CompileError("n in (1, 'a')"),
            "at column 10: cannot compare int64 'n' with string 'a' in the 'in' list in \"n in "
            "(1, 'a')\"");
  EXPECT_EQ(CompileError("null in (1, 'a')"),
            "at column 13: the 'in' list mixes int64 and string 'a' in \"null in (1, 'a')\"");
}

TEST(ExprErrorTest, LogicTypeErrors) {
  EXPECT_EQ(CompileError("not 5"),
            "at column 5: 'not' needs true/false operands, found int64 '5' in \"not 5\"");
  EXPECT_EQ(CompileError("p and n"),
            "at column 7: 'and' needs true/false operands, found int64 'n' in \"p and n\"");
  EXPECT_EQ(CompileError("status or p"),
            "at column 1: 'or' needs true/false operands, found string 'status' in \"status "
            "or p\"");
}

TEST(ExprErrorTest, FunctionTypeErrors) {
  EXPECT_EQ(CompileError("if(n, 1, 2)"),
            "at column 4: the condition of if() must be true/false, found int64 'n' in \"if(n, "
            "1, 2)\"");
  EXPECT_EQ(CompileError("if(p, 1, 'a')"),
            "at column 10: if() branches differ in type: int64 '1' and string 'a' in \"if(p, 1, "
            "'a')\"");
  EXPECT_EQ(CompileError("log('a')"), "at column 5: log() needs a number, found string 'a' in \"log('a')\"");
  EXPECT_EQ(CompileError("exp(p)"), "at column 5: exp() needs a number, found bool 'p' in \"exp(p)\"");
  EXPECT_EQ(CompileError("abs(status)"),
            "at column 5: abs() needs a number, found string 'status' in \"abs(status)\"");
  EXPECT_EQ(CompileError("lower(n)"), "at column 7: lower() needs a string, found int64 'n' in \"lower(n)\"");
  EXPECT_EQ(CompileError("min(1, 'a')"),
            "at column 8: min() arguments differ in type: string 'a' after int64 arguments in "
            "\"min(1, 'a')\"");
  EXPECT_EQ(CompileError("max(p, q)"),
            "at column 5: max() needs numbers or strings, found bool 'p' in \"max(p, q)\"");
  EXPECT_EQ(CompileError("coalesce(n, status)"),
            "at column 13: coalesce() arguments differ in type: string 'status' after int64 "
            "arguments in \"coalesce(n, status)\"");
}

TEST(ExprErrorTest, SyntaxErrors) {
  EXPECT_EQ(CompileError(""),
            "at column 1: expected a value, a field, a function call or '(', found end of "
            "expression in \"\"");
  EXPECT_EQ(CompileError("n +"),
            "at column 4: expected a value, a field, a function call or '(', found end of "
            "expression in \"n +\"");
  EXPECT_EQ(CompileError("(n + 1"), "at column 7: expected ')', found end of expression in \"(n + 1\"");
  EXPECT_EQ(CompileError("n + 1)"), "at column 6: unexpected ')' after a complete expression in \"n + 1)\"");
  EXPECT_EQ(CompileError("n m"),
            "at column 3: unexpected 'm' after a complete expression in "
            "\"n m\"");
  EXPECT_EQ(CompileError("1 < n < 3"),
            "at column 7: unexpected '<': comparisons do not chain; combine them with 'and' in "
            "\"1 < n < 3\"");
  EXPECT_EQ(CompileError("(n is null is null)"),
            "at column 12: unexpected 'is': comparisons do not chain; combine them with 'and' "
            "in \"(n is null is null)\"");
  EXPECT_EQ(CompileError("n is 5"),
            "at column 6: expected 'null' after 'is', found '5' in \"n "
            "is 5\"");
  EXPECT_EQ(CompileError("n in 1, 2"),
            "at column 6: expected '(' to start the 'in' list, found '1' in \"n in 1, 2\"");
  EXPECT_EQ(CompileError("n in ()"),
            "at column 7: the 'in' list is empty: give at least one value in \"n in ()\"");
  EXPECT_EQ(CompileError("n in (1 2)"),
            "at column 9: expected ',' or ')' in the 'in' list, found '2' in \"n in (1 2)\"");
  EXPECT_EQ(CompileError("min(1, 2"),
            "at column 9: expected ',' or ')' in the arguments of "
            "min(), found end of expression in \"min(1, 2\"");
  EXPECT_EQ(CompileError("n = and"),
            "at column 5: expected a value, a field, a function call or '(', found 'and' in "
            "\"n = and\"");
}

TEST(ExprErrorTest, LexicalErrors) {
  EXPECT_EQ(CompileError("status = 'failed"),
            "at column 10: unterminated string: end it with ' (a quote inside is written '') "
            "in \"status = 'failed\"");
  EXPECT_EQ(CompileError("status = \"failed\""),
            "at column 10: unexpected '\"': strings take single quotes ('like this') in "
            "\"status = \"failed\"\"");
  EXPECT_EQ(CompileError("n # 1"), "at column 3: unexpected character '#' in \"n # 1\"");
  EXPECT_EQ(CompileError("n ! 1"), "at column 3: unexpected '!': write 'not' or '!=' in \"n ! 1\"");
  EXPECT_EQ(CompileError("n > 1h"), "at column 5: malformed number '1h' in \"n > 1h\"");
  EXPECT_EQ(CompileError("1.2.3"), "at column 1: malformed number '1.2.3' in \"1.2.3\"");
  EXPECT_EQ(CompileError("n + 5."), "at column 5: malformed number '5.' in \"n + 5.\"");
  EXPECT_EQ(CompileError("user_txn."),
            "at column 1: malformed name 'user_txn.': a '.' must be followed by the next part "
            "of the name in \"user_txn.\"");
  EXPECT_EQ(CompileError("n > 99999999999999999999"),
            "at column 5: integer 99999999999999999999 is out of the range of int64 (write it "
            "as a double: 99999999999999999999.0) in \"n > 99999999999999999999\"");
  EXPECT_EQ(CompileError("9223372036854775808"),
            "at column 1: integer 9223372036854775808 is out of the range of int64 (write it "
            "as a double: 9223372036854775808.0) in \"9223372036854775808\"");
  // Its negation is the smallest int64, but only as a literal right after '-'.
  EXPECT_EQ(CompileError("-(9223372036854775808)"),
            "at column 3: integer 9223372036854775808 is out of the range of int64 (write it "
            "as a double: 9223372036854775808.0) in \"-(9223372036854775808)\"");
  EXPECT_EQ(CompileError("1e999"), "at column 1: number '1e999' is out of the range of double in \"1e999\"");
}

TEST(ExprErrorTest, NestingIsLimited) {
  std::string deep(1000, '(');
  deep += "1";
  deep += std::string(1000, ')');
  std::string msg = CompileError(deep);
  EXPECT_NE(msg.find("expression nested too deeply"), std::string::npos) << msg;
  std::string chain = "1";
  for (int i = 0; i < 1000; ++i) chain += " + n";
  msg = CompileError(chain);
  EXPECT_NE(msg.find("expression nested too deeply"), std::string::npos) << msg.substr(0, 100);
  std::string nots;
  for (int i = 0; i < 1000; ++i) nots += "not ";
  msg = CompileError(nots + "true");
  EXPECT_NE(msg.find("expression nested too deeply"), std::string::npos) << msg.substr(0, 100);
  // Moderate nesting is fine.
  EXPECT_EQ(Eval(std::string(50, '(') + "1" + std::string(50, ')')), I(1));
}

}  // namespace expr_test
}  // namespace vigil
