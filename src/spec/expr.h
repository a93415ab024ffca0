// The expression language of `where` filters and on-demand features (DESIGN.md §3):
// compiled once from text against a row layout, then evaluated per row with SQL null
// semantics.
//
//   status == 'failed' and amount > 100       where: Matches(row) is true for such rows
//   coalesce(amount, 0) * 2                   on-demand value: Evaluate(row)
//   lower(country) in ('fr', 'de', 'it')
//   user_txn.failed_count_10m / user_txn.txn_count_1h
//
// Grammar, loosest binding first:
//   or  <  and  <  not  <  comparison, in, is  <  + -  <  * /  <  unary -
// Comparisons (= == != <> < <= > >=), `in` and `is` do not chain: `a < b < c` is an
// error; write `a < b and b < c`.
//
// Tokens:
//   integers 42 -> int64; 1.5, .5, 1e3, 2.5E-3 -> double; 'it''s' is a string (the
//   quote is doubled); true, false, null.
//   Names: letters, digits and _ (not starting with a digit), parts joined by dots:
//   `amount`, `user_txn.txn_count_1h`. Names are case-sensitive; the keywords and or not
//   in is null true false and the function names are not. A name followed by `(` is a
//   function call, so a field may be called `log` or `min`.
//
// Types: a compiled expression has one static type (result_type()); every value it
// evaluates to is null or of that type.
//   + - *     int64 op int64 -> int64 (null on overflow); with a double -> double.
//   /         always double: 7 / 2 = 3.5. Division by zero gives null.
//   unary -   keeps int64/double (-(-9223372036854775808) is null: overflow).
//   compare   numbers of any numeric type with each other (int64 with int64 exactly,
//             else as doubles), strings with strings (bytewise), bools with bools (only
//             = and !=). A string against a number is a compile-time error.
//   timestamp behaves as int64: arithmetic on it gives int64, comparisons are exact.
//   Any double result that would be NaN or infinite is null instead.
//
// Null (SQL three-valued logic):
//   1 + null -> null          null = null -> null          not null -> null
//   false and null -> false   true and null -> null
//   true or null -> true      false or null -> null
//   x is null, x is not null  -> never null
//   x in (a, b, c)            -> true if x equals one of them; else null if x or any
//                                element is null; else false. `not in` negates that:
//                                2 not in (1, null) -> null.
//
// Functions (names case-insensitive):
//   abs(x)          same type as x; abs(-9223372036854775808) is null (overflow)
//   log(x)          natural log, double; null for x <= 0
//   exp(x)          double; null when it overflows
//   min(a, b, ...)  max(a, b, ...): 2+ numbers or 2+ strings. Nulls are skipped, as
//                   Postgres LEAST/GREATEST do: min(3, null, 1) = 1; the result is null
//                   only if every argument is null. Mixed int64/double gives double.
//   coalesce(a, ...)  the first non-null argument, or null.
//   if(cond, a, b)  a when cond is true; b when cond is false or null. cond must be bool.
//   lower(s)        ASCII lowercase of a string; other bytes are kept.
// The arguments of coalesce, if (a, b), min and max must share a type, where int64
// widens to double and timestamp to int64: if(c, 1, 2.5) is double.
//
// Compile errors (syntax, unknown names, type errors) are InvalidArgument naming the
// 1-based column and the offending token, e.g.
//   at column 1: unknown field 'stauts' in "stauts == 'failed'"
//   at column 1: '+' needs numbers, found string 'a' in "'a' + 1"
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "schema/value.h"

namespace vigil {

// Where a name's value is found in the rows an expression is evaluated on.
struct ExprSlot {
  int index;  // into the Row; must be >= 0
  Type type;  // the type the row's value has there (or null). kNull: always null.
};

// Resolves a name (may contain dots, e.g. "amount" or "user_txn.txn_count_1h") to its
// slot. Returns false if the name is unknown. Called only during Compile.
using NameResolver = std::function<bool(std::string_view name, ExprSlot* slot)>;

// A compiled expression. Immutable; safe to evaluate from several threads at once.
class Expr {
 public:
  ~Expr();
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;

  // Parses and type-checks `text`, resolving names through `names` (which is not kept).
  // Sub-expressions of constants only are computed here, once. Errors are InvalidArgument
  // as described at the top of this file; nesting deeper than 200 levels (parentheses,
  // or a chain such as 1 + 1 + ... of 200 terms) is one, so evaluation cannot exhaust
  // the stack.
  static Result<std::unique_ptr<Expr>> Compile(std::string_view text, const NameResolver& names);

  // The value of the expression on `row`: null or of result_type(). Never fails: SQL
  // semantics make null of what would be an error (overflow, division by zero, log(0)).
  // A slot past the end of `row` reads as null, and so does a value whose type does not
  // match its slot's type, except that int64/timestamp values convert to a double slot
  // and int64 and timestamp convert to each other. Allocates only for a string result or
  // a call of lower().
  Value Evaluate(const Row& row) const;

  // For `where`: true only if Evaluate(row) is the bool true; null and false are false,
  // and so is every value of an expression whose result_type() is not bool. Does not
  // allocate unless the expression calls lower().
  bool Matches(const Row& row) const;

  // The static type of Evaluate's values. kNull only for an expression with no other type
  // to give (`null`, `-null`, `coalesce(null, null)`), which is null on every row.
  Type result_type() const;
  // The text as given to Compile.
  const std::string& text() const;
  // The slot indexes the expression reads, sorted, without duplicates. Slots that
  // constant folding or a null operand made irrelevant are still listed.
  const std::vector<int>& inputs() const;

  struct Program;  // the compiled form; defined in expr.cc

 private:
  Expr();
  std::string text_;
  std::vector<int> inputs_;
  std::unique_ptr<const Program> program_;
};

}  // namespace vigil
