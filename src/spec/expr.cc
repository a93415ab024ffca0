// Compiles expression text into a flat tree of typed nodes (Expr::Program) and evaluates
// it. Parsing, type checking and constant folding happen together in one recursive
// descent; evaluation walks the node array with slots and types already resolved.
#include "spec/expr.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <deque>
#include <forward_list>
#include <limits>
#include <utility>

namespace vigil {

namespace {

// Deeper nesting (parentheses, unary operators, or left-deep chains like 1+1+1+...) is
// rejected so that neither the parser nor the evaluator can exhaust the stack.
constexpr int kMaxDepth = 200;
// `in` lists with more constant elements than this are looked up by binary search.
constexpr size_t kInSetMinSize = 8;

enum class Op : uint8_t {
  kConst,
  kSlot,
  kNeg,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,  // n-ary
  kOr,   // n-ary
  kNot,
  kIsNull,
  kIsNotNull,
  kInList,  // args: x, elements...; compared one by one
  kInSet,   // args: x; the constant elements are in Program::in_sets[node.set]
  kAbs,
  kLog,
  kExp,
  kMin,
  kMax,
  kCoalesce,
  kIf,
  kLower,
};

// A value during evaluation. Like Value, but a string is a view (of the row, of a
// constant in the Program, or of the Scratch of one evaluation), so reading a string
// field never copies it. `type` is kNull for SQL null, else the producing node's type.
struct Datum {
  Type type = Type::kNull;
  union {
    int64_t i = 0;  // int64, timestamp, bool (0/1)
    double d;
  };
  std::string_view s;

  bool is_null() const { return type == Type::kNull; }
  double AsDouble() const { return type == Type::kDouble ? d : static_cast<double>(i); }
};

Datum NullDatum() { return Datum(); }
Datum IntDatum(Type t, int64_t v) {
  Datum x;
  x.type = t;
  x.i = v;
  return x;
}
Datum BoolDatum(bool v) { return IntDatum(Type::kBool, v ? 1 : 0); }
// Values are never NaN or infinite (value.h): such results are null.
Datum DoubleDatum(double v) {
  if (!std::isfinite(v)) return NullDatum();
  Datum x;
  x.type = Type::kDouble;
  x.d = v;
  return x;
}
Datum StringDatum(std::string_view v) {
  Datum x;
  x.type = Type::kString;
  x.s = v;
  return x;
}

bool IsIntLike(Type t) { return t == Type::kInt64 || t == Type::kTimestamp; }
bool IsNumeric(Type t) { return IsIntLike(t) || t == Type::kDouble; }

// Converts a datum to `to`, a type it was unified into (see Unify). Null stays null.
Datum Convert(const Datum& x, Type to) {
  if (x.is_null() || x.type == to) return x;
  if (to == Type::kDouble) return DoubleDatum(x.AsDouble());
  if (IsIntLike(to) && IsIntLike(x.type)) return IntDatum(to, x.i);
  return NullDatum();  // unreachable for type-checked programs
}

// The common type of two operands of coalesce/if/min/max/comparisons: null fits any
// type, int64 and timestamp widen to double, timestamp narrows to int64 with int64.
bool Unify(Type a, Type b, Type* out) {
  if (a == Type::kNull || a == b) {
    *out = b;
  } else if (b == Type::kNull) {
    *out = a;
  } else if (IsNumeric(a) && IsNumeric(b)) {
    *out = (a == Type::kDouble || b == Type::kDouble) ? Type::kDouble : Type::kInt64;
  } else {
    return false;
  }
  return true;
}

// Three-way comparison of two non-null datums in `domain` (kInt64 for int64 and
// timestamps, kDouble, kString, kBool).
int Compare(Type domain, const Datum& x, const Datum& y) {
  switch (domain) {
    case Type::kDouble: {
      double a = x.AsDouble(), b = y.AsDouble();
      return a < b ? -1 : (b < a ? 1 : 0);
    }
    case Type::kString: {
      int c = x.s.compare(y.s);  // char_traits<char>::compare is memcmp: bytewise
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    default:
      return x.i < y.i ? -1 : (y.i < x.i ? 1 : 0);
  }
}

// Strings made during one evaluation (lower()); a forward_list so that constructing an
// empty one does not allocate and views of its elements stay valid.
using Scratch = std::forward_list<std::string>;

// The constant elements of a long `in` list, sorted, in the list's comparison domain.
struct InSet {
  std::vector<int64_t> ints;
  std::vector<double> doubles;
  std::vector<std::string> strings;
  bool has_true = false;
  bool has_false = false;
  bool has_null = false;

  void Add(Type domain, const Datum& v) {
    if (v.is_null()) {
      has_null = true;
      return;
    }
    switch (domain) {
      case Type::kDouble:
        doubles.push_back(v.AsDouble());
        break;
      case Type::kString:
        strings.emplace_back(v.s);
        break;
      case Type::kBool:
        (v.i ? has_true : has_false) = true;
        break;
      default:
        ints.push_back(v.i);
        break;
    }
  }
  void Seal() {
    std::sort(ints.begin(), ints.end());
    std::sort(doubles.begin(), doubles.end());
    std::sort(strings.begin(), strings.end());
  }
  // REQUIRES: x is not null.
  bool Contains(Type domain, const Datum& x) const {
    switch (domain) {
      case Type::kDouble:
        return std::binary_search(doubles.begin(), doubles.end(), x.AsDouble());
      case Type::kString: {
        auto it = std::lower_bound(
            strings.begin(), strings.end(), x.s,
            [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
        return it != strings.end() && *it == x.s;
      }
      case Type::kBool:
        return x.i ? has_true : has_false;
      default:
        return std::binary_search(ints.begin(), ints.end(), x.i);
    }
  }
};

struct Node {
  Op op = Op::kConst;
  Type type = Type::kNull;    // static type: every Datum this node yields is null or this
  Type domain = Type::kNull;  // the type operands are compared or computed in
  bool negate = false;        // kInList, kInSet: `not in`
  int32_t begin = 0;          // source span [begin, end), byte offsets, for messages
  int32_t end = 0;
  int32_t depth = 1;
  int32_t slot = -1;      // kSlot
  int32_t set = -1;       // kInSet
  int32_t first_arg = 0;  // the children are Program::args[first_arg, +num_args)
  int32_t num_args = 0;
  Datum value;  // kConst
};

}  // namespace

struct Expr::Program {
  std::vector<Node> nodes;
  std::vector<int32_t> args;
  std::vector<InSet> in_sets;
  std::deque<std::string> strings;  // behind string constants' views; deque: stable
  int32_t root = -1;

  Datum Eval(int32_t n, const Row& row, Scratch* scratch) const;
  Datum LoadSlot(const Node& node, const Row& row) const;
};

Datum Expr::Program::LoadSlot(const Node& node, const Row& row) const {
  if (static_cast<size_t>(node.slot) >= row.size()) return NullDatum();
  const Value& v = row[node.slot];
  switch (v.type()) {
    case Type::kInt64:
    case Type::kTimestamp:
      if (IsIntLike(node.type)) return IntDatum(node.type, v.int64());
      if (node.type == Type::kDouble) return DoubleDatum(static_cast<double>(v.int64()));
      return NullDatum();
    case Type::kDouble:
      return node.type == Type::kDouble ? DoubleDatum(v.dbl()) : NullDatum();
    case Type::kString:
      return node.type == Type::kString ? StringDatum(v.str()) : NullDatum();
    case Type::kBool:
      return node.type == Type::kBool ? BoolDatum(v.boolean()) : NullDatum();
    case Type::kNull:
      break;
  }
  return NullDatum();
}

Datum Expr::Program::Eval(int32_t n, const Row& row, Scratch* scratch) const {
  const Node& node = nodes[n];
  const int32_t* a = args.data() + node.first_arg;
  switch (node.op) {
    case Op::kConst:
      return node.value;
    case Op::kSlot:
      return LoadSlot(node, row);
    case Op::kNeg: {
      Datum x = Eval(a[0], row, scratch);
      if (x.is_null()) return x;
      if (node.type == Type::kDouble) return DoubleDatum(-x.d);
      int64_t r;
      if (__builtin_sub_overflow(int64_t{0}, x.i, &r)) return NullDatum();
      return IntDatum(Type::kInt64, r);
    }
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv: {
      Datum x = Eval(a[0], row, scratch);
      if (x.is_null()) return x;
      Datum y = Eval(a[1], row, scratch);
      if (y.is_null()) return y;
      if (node.domain == Type::kInt64) {
        int64_t r;
        bool overflow;
        switch (node.op) {
          case Op::kAdd:
            overflow = __builtin_add_overflow(x.i, y.i, &r);
            break;
          case Op::kSub:
            overflow = __builtin_sub_overflow(x.i, y.i, &r);
            break;
          default:
            overflow = __builtin_mul_overflow(x.i, y.i, &r);
            break;
        }
        return overflow ? NullDatum() : IntDatum(Type::kInt64, r);
      }
      double p = x.AsDouble(), q = y.AsDouble();
      switch (node.op) {
        case Op::kAdd:
          return DoubleDatum(p + q);
        case Op::kSub:
          return DoubleDatum(p - q);
        case Op::kMul:
          return DoubleDatum(p * q);
        default:
          return q == 0 ? NullDatum() : DoubleDatum(p / q);
      }
    }
    case Op::kEq:
    case Op::kNe:
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      Datum x = Eval(a[0], row, scratch);
      if (x.is_null()) return NullDatum();
      Datum y = Eval(a[1], row, scratch);
      if (y.is_null()) return NullDatum();
      int c = Compare(node.domain, x, y);
      switch (node.op) {
        case Op::kEq:
          return BoolDatum(c == 0);
        case Op::kNe:
          return BoolDatum(c != 0);
        case Op::kLt:
          return BoolDatum(c < 0);
        case Op::kLe:
          return BoolDatum(c <= 0);
        case Op::kGt:
          return BoolDatum(c > 0);
        default:
          return BoolDatum(c >= 0);
      }
    }
    case Op::kAnd:
    case Op::kOr: {
      // and: any false -> false, else any null -> null, else true. or: the dual.
      const bool decisive = node.op == Op::kOr;
      bool saw_null = false;
      for (int32_t k = 0; k < node.num_args; ++k) {
        Datum v = Eval(a[k], row, scratch);
        if (v.is_null()) {
          saw_null = true;
        } else if ((v.i != 0) == decisive) {
          return BoolDatum(decisive);
        }
      }
      return saw_null ? NullDatum() : BoolDatum(!decisive);
    }
    case Op::kNot: {
      Datum x = Eval(a[0], row, scratch);
      return x.is_null() ? x : BoolDatum(x.i == 0);
    }
    case Op::kIsNull:
      return BoolDatum(Eval(a[0], row, scratch).is_null());
    case Op::kIsNotNull:
      return BoolDatum(!Eval(a[0], row, scratch).is_null());
    case Op::kInList:
    case Op::kInSet: {
      Datum x = Eval(a[0], row, scratch);
      if (x.is_null()) return NullDatum();
      bool found = false;
      bool saw_null = false;
      if (node.op == Op::kInSet) {
        const InSet& set = in_sets[node.set];
        found = set.Contains(node.domain, x);
        saw_null = set.has_null;
      } else {
        for (int32_t k = 1; k < node.num_args && !found; ++k) {
          Datum v = Eval(a[k], row, scratch);
          if (v.is_null()) {
            saw_null = true;
          } else {
            found = Compare(node.domain, x, v) == 0;
          }
        }
      }
      if (!found && saw_null) return NullDatum();
      return BoolDatum(found != node.negate);
    }
    case Op::kAbs: {
      Datum x = Eval(a[0], row, scratch);
      if (x.is_null()) return x;
      if (node.type == Type::kDouble) return DoubleDatum(std::fabs(x.d));
      if (x.i == std::numeric_limits<int64_t>::min()) return NullDatum();
      return IntDatum(node.type, x.i < 0 ? -x.i : x.i);
    }
    case Op::kLog: {
      Datum x = Eval(a[0], row, scratch);
      if (x.is_null()) return x;
      double v = x.AsDouble();
      return v <= 0 ? NullDatum() : DoubleDatum(std::log(v));
    }
    case Op::kExp: {
      Datum x = Eval(a[0], row, scratch);
      if (x.is_null()) return x;
      return DoubleDatum(std::exp(x.AsDouble()));
    }
    case Op::kMin:
    case Op::kMax: {
      const int want = node.op == Op::kMin ? -1 : 1;
      Datum best;
      for (int32_t k = 0; k < node.num_args; ++k) {
        Datum v = Eval(a[k], row, scratch);
        if (v.is_null()) continue;  // LEAST/GREATEST skip nulls
        if (best.is_null() || Compare(node.domain, v, best) == want) best = v;
      }
      return Convert(best, node.type);
    }
    case Op::kCoalesce:
      for (int32_t k = 0; k < node.num_args; ++k) {
        Datum v = Eval(a[k], row, scratch);
        if (!v.is_null()) return Convert(v, node.type);
      }
      return NullDatum();
    case Op::kIf: {
      Datum c = Eval(a[0], row, scratch);
      return Convert(Eval(a[(!c.is_null() && c.i != 0) ? 1 : 2], row, scratch), node.type);
    }
    case Op::kLower: {
      Datum x = Eval(a[0], row, scratch);
      if (x.is_null()) return x;
      std::string& out = scratch->emplace_front(x.s);
      for (char& ch : out) {
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      }
      return StringDatum(out);
    }
  }
  return NullDatum();
}

namespace {

Value ToValue(const Datum& d) {
  switch (d.type) {
    case Type::kInt64:
      return Value::Int64(d.i);
    case Type::kTimestamp:
      return Value::Timestamp(d.i);
    case Type::kDouble:
      return Value::Double(d.d);
    case Type::kBool:
      return Value::Bool(d.i != 0);
    case Type::kString:
      return Value::String(std::string(d.s));
    case Type::kNull:
      break;
  }
  return Value::Null();
}

// ---------------------------------------------------------------------------------------
// Lexer

enum class Tok : uint8_t {
  kEnd,
  kInt,
  kDouble,
  kString,
  kName,
  kAnd,
  kOr,
  kNot,
  kIn,
  kIs,
  kNull,
  kTrue,
  kFalse,
  kLParen,
  kRParen,
  kComma,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kEq,  // = or ==
  kNe,  // != or <>
  kLt,
  kLe,
  kGt,
  kGe,
};

struct Token {
  Tok kind = Tok::kEnd;
  int32_t begin = 0;  // byte offsets into the text
  int32_t end = 0;
  uint64_t int_value = 0;  // kInt; may be 2^63, which only `-` makes valid
  double dbl_value = 0;    // kDouble
  std::string str_value;   // kString, unescaped
};

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

struct FunctionInfo {
  std::string_view name;  // lowercase
  Op op;
  int min_args;
  int max_args;  // -1: no limit
};
constexpr FunctionInfo kFunctions[] = {
    {"abs", Op::kAbs, 1, 1},  {"coalesce", Op::kCoalesce, 1, -1},
    {"exp", Op::kExp, 1, 1},  {"if", Op::kIf, 3, 3},
    {"log", Op::kLog, 1, 1},  {"lower", Op::kLower, 1, 1},
    {"max", Op::kMax, 2, -1}, {"min", Op::kMin, 2, -1},
};

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kNeg:
      return "-";
    case Op::kAdd:
      return "+";
    case Op::kSub:
      return "-";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kAnd:
      return "and";
    case Op::kOr:
      return "or";
    case Op::kNot:
      return "not";
    default:
      break;
  }
  for (const FunctionInfo& f : kFunctions) {
    if (f.op == op) return f.name;
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// Parser: recursive descent, one function per precedence level, building nodes bottom-up
// (children before parents) with types checked and constants folded as each is made.

class Parser {
 public:
  Parser(std::string_view text, const NameResolver& names, Expr::Program* program)
      : text_(text), names_(names), p_(program) {}

  Status Run(std::vector<int>* inputs) {
    VIGIL_RETURN_IF_ERROR(Lex());
    VIGIL_ASSIGN_OR_RETURN(p_->root, ParseOr());
    if (Peek().kind != Tok::kEnd) {
      return Error(Peek().begin, "unexpected " + Describe(Peek()) + " after a complete expression");
    }
    std::sort(slots_.begin(), slots_.end());
    slots_.erase(std::unique(slots_.begin(), slots_.end()), slots_.end());
    *inputs = std::move(slots_);
    return Status::OK();
  }

 private:
  // "at column 8: <what> in "<text>"".
  Status Error(int32_t offset, const std::string& what) const {
    return Status::InvalidArgument("at column " + std::to_string(offset + 1) + ": " + what + " in \"" +
                                   std::string(text_) + "\"");
  }

  // A token for messages: 'abc', or "end of expression".
  std::string Describe(const Token& t) const {
    if (t.kind == Tok::kEnd) return "end of expression";
    return Quote(text_.substr(t.begin, t.end - t.begin));
  }
  // A piece of source in quotes, unless it is a string literal that has them already.
  static std::string Quote(std::string_view s) {
    if (!s.empty() && s.front() == '\'') return std::string(s);
    return "'" + std::string(s) + "'";
  }
  // "int64 'amount'": a node's type and source text, for type errors.
  std::string Describe(int32_t n) const {
    const Node& node = p_->nodes[n];
    return std::string(TypeName(node.type)) + " " + Quote(text_.substr(node.begin, node.end - node.begin));
  }
  const Node& N(int32_t n) const { return p_->nodes[n]; }

  Status IntegerOutOfRange(int32_t offset, std::string_view literal) const {
    return Error(offset, "integer " + std::string(literal) +
                             " is out of the range of int64 (write it as a double: " + std::string(literal) +
                             ".0)");
  }

  // ---- lexing ----

  Status Lex() {
    size_t i = 0;
    const size_t n = text_.size();
    if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2)) {
      return Status::InvalidArgument("expression text is too long");
    }
    while (true) {
      while (i < n && (text_[i] == ' ' || text_[i] == '\t' || text_[i] == '\n' || text_[i] == '\r')) {
        ++i;
      }
      Token t;
      t.begin = static_cast<int32_t>(i);
      if (i == n) {
        t.end = t.begin;
        tokens_.push_back(std::move(t));
        return Status::OK();
      }
      const char c = text_[i];
      if (IsDigit(c) || (c == '.' && i + 1 < n && IsDigit(text_[i + 1]))) {
        VIGIL_RETURN_IF_ERROR(LexNumber(&i, &t));
      } else if (IsNameStart(c)) {
        VIGIL_RETURN_IF_ERROR(LexName(&i, &t));
      } else if (c == '\'') {
        ++i;
        while (true) {
          if (i == n) {
            return Error(t.begin, "unterminated string: end it with ' (a quote inside is written '')");
          }
          if (text_[i] == '\'') {
            if (i + 1 < n && text_[i + 1] == '\'') {
              t.str_value.push_back('\'');
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          t.str_value.push_back(text_[i++]);
        }
        t.kind = Tok::kString;
      } else {
        auto two = [&](char next) { return i + 1 < n && text_[i + 1] == next; };
        size_t len = 1;
        switch (c) {
          case '(':
            t.kind = Tok::kLParen;
            break;
          case ')':
            t.kind = Tok::kRParen;
            break;
          case ',':
            t.kind = Tok::kComma;
            break;
          case '+':
            t.kind = Tok::kPlus;
            break;
          case '-':
            t.kind = Tok::kMinus;
            break;
          case '*':
            t.kind = Tok::kStar;
            break;
          case '/':
            t.kind = Tok::kSlash;
            break;
          case '=':
            t.kind = Tok::kEq;
            if (two('=')) len = 2;
            break;
          case '!':
            if (!two('=')) return Error(t.begin, "unexpected '!': write 'not' or '!='");
            t.kind = Tok::kNe;
            len = 2;
            break;
          case '<':
            t.kind = Tok::kLt;
            if (two('=')) {
              t.kind = Tok::kLe;
              len = 2;
            } else if (two('>')) {
              t.kind = Tok::kNe;
              len = 2;
            }
            break;
          case '>':
            t.kind = Tok::kGt;
            if (two('=')) {
              t.kind = Tok::kGe;
              len = 2;
            }
            break;
          case '"':
            return Error(t.begin, "unexpected '\"': strings take single quotes ('like this')");
          default: {
            std::string shown =
                (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
                    ? "byte " + std::to_string(static_cast<unsigned char>(c))
                    : "'" + std::string(1, c) + "'";
            return Error(t.begin, "unexpected character " + shown);
          }
        }
        i += len;
      }
      t.end = static_cast<int32_t>(i);
      tokens_.push_back(std::move(t));
    }
  }

  // digits ['.' digits] [e [+-] digits], or '.' digits [...]. A letter, digit, '_' or '.'
  // right after makes the whole run malformed ("1h", "1.2.3", "1.").
  Status LexNumber(size_t* pos, Token* t) {
    size_t i = *pos;
    const size_t n = text_.size();
    bool is_double = false;
    bool malformed = false;
    while (i < n && IsDigit(text_[i])) ++i;
    if (i < n && text_[i] == '.') {
      is_double = true;
      ++i;
      if (i == n || !IsDigit(text_[i])) malformed = true;
      while (i < n && IsDigit(text_[i])) ++i;
    }
    if (!malformed && i < n && (text_[i] == 'e' || text_[i] == 'E')) {
      size_t j = i + 1;
      if (j < n && (text_[j] == '+' || text_[j] == '-')) ++j;
      if (j < n && IsDigit(text_[j])) {
        is_double = true;
        i = j;
        while (i < n && IsDigit(text_[i])) ++i;
      }
    }
    if (malformed || (i < n && (IsNameChar(text_[i]) || text_[i] == '.'))) {
      while (i < n && (IsNameChar(text_[i]) || text_[i] == '.')) ++i;
      return Error(t->begin, "malformed number " + Quote(text_.substr(*pos, i - *pos)));
    }
    const char* first = text_.data() + *pos;
    const char* last = text_.data() + i;
    std::string_view literal(first, last - first);
    if (is_double) {
      auto [ptr, ec] = std::from_chars(first, last, t->dbl_value);
      if (ec != std::errc() || ptr != last || !std::isfinite(t->dbl_value)) {
        return Error(t->begin, "number " + Quote(literal) + " is out of the range of double");
      }
      t->kind = Tok::kDouble;
    } else {
      auto [ptr, ec] = std::from_chars(first, last, t->int_value);
      if (ec != std::errc() || ptr != last ||
          t->int_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
        return IntegerOutOfRange(t->begin, literal);
      }
      t->kind = Tok::kInt;
    }
    *pos = i;
    return Status::OK();
  }

  // part ('.' part)*, where the first part starts with a letter or '_'. A dot-free name
  // may be a keyword.
  Status LexName(size_t* pos, Token* t) {
    size_t i = *pos;
    const size_t n = text_.size();
    while (true) {
      while (i < n && IsNameChar(text_[i])) ++i;
      if (i < n && text_[i] == '.') {
        if (i + 1 < n && IsNameChar(text_[i + 1])) {
          ++i;
          continue;
        }
        while (i < n && text_[i] == '.') ++i;
        return Error(t->begin, "malformed name " + Quote(text_.substr(*pos, i - *pos)) +
                                   ": a '.' must be followed by the next part of the name");
      }
      break;
    }
    std::string_view word = text_.substr(*pos, i - *pos);
    static constexpr std::pair<std::string_view, Tok> kKeywords[] = {
        {"and", Tok::kAnd}, {"or", Tok::kOr},     {"not", Tok::kNot},   {"in", Tok::kIn},
        {"is", Tok::kIs},   {"null", Tok::kNull}, {"true", Tok::kTrue}, {"false", Tok::kFalse},
    };
    t->kind = Tok::kName;
    for (const auto& [kw, kind] : kKeywords) {
      if (EqualsIgnoreCase(word, kw)) t->kind = kind;
    }
    *pos = i;
    return Status::OK();
  }

  // ---- token access ----

  const Token& Peek(size_t ahead = 0) const {
    size_t k = std::min(next_ + ahead, tokens_.size() - 1);  // the last token is kEnd
    return tokens_[k];
  }
  const Token& Take() {
    const Token& t = tokens_[next_];
    if (next_ + 1 < tokens_.size()) ++next_;
    return t;
  }
  Status Expect(Tok kind, std::string_view what) {
    if (Peek().kind != kind) {
      return Error(Peek().begin, "expected " + std::string(what) + ", found " + Describe(Peek()));
    }
    Take();
    return Status::OK();
  }
  static bool IsComparison(Tok k) {
    return k == Tok::kEq || k == Tok::kNe || k == Tok::kLt || k == Tok::kLe || k == Tok::kGt || k == Tok::kGe;
  }

  // Counts parser recursion (parentheses, function arguments, `not`, unary minus).
  class DepthGuard {
   public:
    explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
    ~DepthGuard() { --*depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    int* depth_;
  };
  Status CheckDepth(int32_t offset) const {
    if (depth_ > kMaxDepth) {
      return Error(offset,
                   "expression nested too deeply (more than " + std::to_string(kMaxDepth) + " levels)");
    }
    return Status::OK();
  }

  // ---- node building ----

  int32_t AddConst(Type type, Datum value, int32_t begin, int32_t end) {
    if (value.type == Type::kString) {
      value.s = p_->strings.emplace_back(value.s);
    }
    Node node;
    node.op = Op::kConst;
    node.type = type;
    node.value = value;
    node.begin = begin;
    node.end = end;
    p_->nodes.push_back(node);
    return static_cast<int32_t>(p_->nodes.size() - 1);
  }

  // Appends `node` with `kids` as its children; folds it into a constant when every child
  // is one. The span defaults to the children's.
  Result<int32_t> Add(Node node, const std::vector<int32_t>& kids) {
    node.first_arg = static_cast<int32_t>(p_->args.size());
    node.num_args = static_cast<int32_t>(kids.size());
    bool all_const = true;
    int32_t depth = 0;
    for (int32_t k : kids) {
      p_->args.push_back(k);
      all_const = all_const && N(k).op == Op::kConst;
      depth = std::max(depth, N(k).depth);
    }
    node.depth = depth + 1;
    if (node.depth > kMaxDepth) {
      return Error(node.begin,
                   "expression nested too deeply (more than " + std::to_string(kMaxDepth) + " levels)");
    }
    p_->nodes.push_back(node);
    int32_t index = static_cast<int32_t>(p_->nodes.size() - 1);
    if (!all_const) return index;
    // Every child is constant: compute the value once, here. Children stay in the array
    // unreferenced; they are few and never evaluated again.
    Scratch scratch;
    static const Row kNoRow;
    Datum value = p_->Eval(index, kNoRow, &scratch);
    p_->nodes.pop_back();
    p_->args.resize(node.first_arg);
    return AddConst(node.type, value, node.begin, node.end);
  }

  // A constant int64 operand of a double operation becomes a double constant, so that
  // `amount > 100` converts 100 once rather than per row.
  void WidenConst(int32_t* kid, Type to) {
    const Node& node = N(*kid);
    if (to != Type::kDouble || node.op != Op::kConst || node.type == Type::kDouble || !IsNumeric(node.type)) {
      return;
    }
    *kid = AddConst(Type::kDouble, Convert(node.value, Type::kDouble), node.begin, node.end);
  }

  static Node MakeNode(Op op, Type type, Type domain, int32_t begin, int32_t end) {
    Node node;
    node.op = op;
    node.type = type;
    node.domain = domain;
    node.begin = begin;
    node.end = end;
    return node;
  }

  Status RequireBool(int32_t kid, std::string_view op_name) const {
    Type t = N(kid).type;
    if (t == Type::kBool || t == Type::kNull) return Status::OK();
    return Error(N(kid).begin,
                 "'" + std::string(op_name) + "' needs true/false operands, found " + Describe(kid));
  }

  // ---- grammar ----

  // or_expr := and_expr ('or' and_expr)*      (flattened into one n-ary node)
  Result<int32_t> ParseOr() {
    DepthGuard guard(&depth_);
    VIGIL_RETURN_IF_ERROR(CheckDepth(Peek().begin));
    return ParseLogical(Tok::kOr);
  }

  Result<int32_t> ParseLogical(Tok op_tok) {
    const bool is_or = op_tok == Tok::kOr;
    auto operand = [&]() { return is_or ? ParseLogical(Tok::kAnd) : ParseNot(); };
    VIGIL_ASSIGN_OR_RETURN(int32_t first, operand());
    if (Peek().kind != op_tok) return first;
    std::vector<int32_t> kids = {first};
    while (Peek().kind == op_tok) {
      Take();
      VIGIL_ASSIGN_OR_RETURN(int32_t next, operand());
      kids.push_back(next);
    }
    Op op = is_or ? Op::kOr : Op::kAnd;
    for (int32_t k : kids) VIGIL_RETURN_IF_ERROR(RequireBool(k, OpName(op)));
    return Add(MakeNode(op, Type::kBool, Type::kBool, N(kids.front()).begin, N(kids.back()).end), kids);
  }

  // not_expr := 'not' not_expr | comparison
  Result<int32_t> ParseNot() {
    if (Peek().kind != Tok::kNot) return ParseComparison();
    const Token& not_tok = Take();
    DepthGuard guard(&depth_);
    VIGIL_RETURN_IF_ERROR(CheckDepth(not_tok.begin));
    VIGIL_ASSIGN_OR_RETURN(int32_t x, ParseNot());
    VIGIL_RETURN_IF_ERROR(RequireBool(x, "not"));
    return Add(MakeNode(Op::kNot, Type::kBool, Type::kBool, not_tok.begin, N(x).end), {x});
  }

  // comparison := additive [cmp additive | ['not'] 'in' '(' list ')' | 'is' ['not'] 'null']
  Result<int32_t> ParseComparison() {
    VIGIL_ASSIGN_OR_RETURN(int32_t left, ParseAdditive());
    VIGIL_ASSIGN_OR_RETURN(int32_t result, ParseComparisonTail(left));
    if (result != left && StartsComparison()) {
      return Error(Peek().begin,
                   "unexpected " + Describe(Peek()) + ": comparisons do not chain; combine them with 'and'");
    }
    return result;
  }

  bool StartsComparison() const {
    Tok k = Peek().kind;
    return IsComparison(k) || k == Tok::kIn || k == Tok::kIs || (k == Tok::kNot && Peek(1).kind == Tok::kIn);
  }

  // The comparison, `in` or `is` after its left operand, if any; else `left` itself.
  Result<int32_t> ParseComparisonTail(int32_t left) {
    const Token& t = Peek();
    if (IsComparison(t.kind)) {
      const Token& op_tok = Take();
      VIGIL_ASSIGN_OR_RETURN(int32_t right, ParseAdditive());
      return MakeComparison(op_tok, left, right);
    }
    if (t.kind == Tok::kIn) {
      Take();
      return ParseInList(left, /*negate=*/false);
    }
    if (t.kind == Tok::kNot && Peek(1).kind == Tok::kIn) {
      Take();
      Take();
      return ParseInList(left, /*negate=*/true);
    }
    if (t.kind == Tok::kIs) {
      Take();
      bool negate = false;
      if (Peek().kind == Tok::kNot) {
        Take();
        negate = true;
      }
      int32_t end = Peek().end;
      VIGIL_RETURN_IF_ERROR(Expect(Tok::kNull, negate ? "'null' after 'is not'" : "'null' after 'is'"));
      return Add(
          MakeNode(negate ? Op::kIsNotNull : Op::kIsNull, Type::kBool, Type::kNull, N(left).begin, end),
          {left});
    }
    return left;
  }

  // The domain two operands compare in, or an error at `right` naming both.
  Result<Type> ComparisonDomain(int32_t left, int32_t right, std::string_view context) const {
    Type domain;
    if (!Unify(N(left).type, N(right).type, &domain)) {
      return Error(N(right).begin,
                   "cannot compare " + Describe(left) + " with " + Describe(right) + std::string(context));
    }
    return domain == Type::kTimestamp ? Type::kInt64 : domain;
  }

  Result<int32_t> MakeComparison(const Token& op_tok, int32_t left, int32_t right) {
    VIGIL_ASSIGN_OR_RETURN(Type domain, ComparisonDomain(left, right, ""));
    Op op;
    switch (op_tok.kind) {
      case Tok::kEq:
        op = Op::kEq;
        break;
      case Tok::kNe:
        op = Op::kNe;
        break;
      case Tok::kLt:
        op = Op::kLt;
        break;
      case Tok::kLe:
        op = Op::kLe;
        break;
      case Tok::kGt:
        op = Op::kGt;
        break;
      default:
        op = Op::kGe;
        break;
    }
    if (domain == Type::kBool && op != Op::kEq && op != Op::kNe) {
      return Error(op_tok.begin, "bool values have no order: " + Describe(op_tok) +
                                     " applies to numbers and strings; use = or != for bools");
    }
    WidenConst(&left, domain);
    WidenConst(&right, domain);
    return Add(MakeNode(op, Type::kBool, domain, N(left).begin, N(right).end), {left, right});
  }

  // After `x [not] in`: '(' expr (',' expr)* ')'.
  Result<int32_t> ParseInList(int32_t x, bool negate) {
    VIGIL_RETURN_IF_ERROR(Expect(Tok::kLParen, "'(' to start the 'in' list"));
    if (Peek().kind == Tok::kRParen) {
      return Error(Peek().begin, "the 'in' list is empty: give at least one value");
    }
    std::vector<int32_t> kids = {x};
    Type domain = N(x).type == Type::kTimestamp ? Type::kInt64 : N(x).type;
    while (true) {
      VIGIL_ASSIGN_OR_RETURN(int32_t element, ParseOr());
      VIGIL_ASSIGN_OR_RETURN(Type d, ComparisonDomain(x, element, " in the 'in' list"));
      // The elements must also agree with each other: `x in (1, 'a')` is an error even
      // when x is null.
      Type merged;
      if (!Unify(domain, d, &merged)) {
        return Error(N(element).begin,
                     "the 'in' list mixes " + std::string(TypeName(domain)) + " and " + Describe(element));
      }
      domain = merged;
      kids.push_back(element);
      if (Peek().kind == Tok::kComma) {
        Take();
        continue;
      }
      break;
    }
    int32_t end = Peek().end;
    VIGIL_RETURN_IF_ERROR(Expect(Tok::kRParen, "',' or ')' in the 'in' list"));
    Node node = MakeNode(Op::kInList, Type::kBool, domain, N(x).begin, end);
    node.negate = negate;
    bool elements_const =
        std::all_of(kids.begin() + 1, kids.end(), [&](int32_t k) { return N(k).op == Op::kConst; });
    if (elements_const && kids.size() - 1 > kInSetMinSize) {
      InSet set;
      for (size_t k = 1; k < kids.size(); ++k) set.Add(domain, N(kids[k]).value);
      set.Seal();
      p_->in_sets.push_back(std::move(set));
      node.op = Op::kInSet;
      node.set = static_cast<int32_t>(p_->in_sets.size() - 1);
      kids.resize(1);
    } else {
      for (size_t k = 0; k < kids.size(); ++k) WidenConst(&kids[k], domain);
    }
    return Add(node, kids);
  }

  // additive := multiplicative (('+' | '-') multiplicative)*
  Result<int32_t> ParseAdditive() {
    VIGIL_ASSIGN_OR_RETURN(int32_t left, ParseMultiplicative());
    while (Peek().kind == Tok::kPlus || Peek().kind == Tok::kMinus) {
      Op op = Take().kind == Tok::kPlus ? Op::kAdd : Op::kSub;
      VIGIL_ASSIGN_OR_RETURN(int32_t right, ParseMultiplicative());
      VIGIL_ASSIGN_OR_RETURN(left, MakeArithmetic(op, left, right));
    }
    return left;
  }

  // multiplicative := unary (('*' | '/') unary)*
  Result<int32_t> ParseMultiplicative() {
    VIGIL_ASSIGN_OR_RETURN(int32_t left, ParseUnary());
    while (Peek().kind == Tok::kStar || Peek().kind == Tok::kSlash) {
      Op op = Take().kind == Tok::kStar ? Op::kMul : Op::kDiv;
      VIGIL_ASSIGN_OR_RETURN(int32_t right, ParseUnary());
      VIGIL_ASSIGN_OR_RETURN(left, MakeArithmetic(op, left, right));
    }
    return left;
  }

  Status RequireNumber(int32_t kid, std::string_view op_name) const {
    Type t = N(kid).type;
    if (IsNumeric(t) || t == Type::kNull) return Status::OK();
    return Error(N(kid).begin, "'" + std::string(op_name) + "' needs numbers, found " + Describe(kid));
  }

  Result<int32_t> MakeArithmetic(Op op, int32_t left, int32_t right) {
    VIGIL_RETURN_IF_ERROR(RequireNumber(left, OpName(op)));
    VIGIL_RETURN_IF_ERROR(RequireNumber(right, OpName(op)));
    Type type;
    if (op == Op::kDiv) {
      type = Type::kDouble;
    } else {
      Unify(N(left).type, N(right).type, &type);
      if (type == Type::kTimestamp) type = Type::kInt64;
    }
    WidenConst(&left, type);
    WidenConst(&right, type);
    return Add(MakeNode(op, type, type, N(left).begin, N(right).end), {left, right});
  }

  // unary := '-' unary | primary
  Result<int32_t> ParseUnary() {
    if (Peek().kind != Tok::kMinus) return ParsePrimary();
    const Token& minus = Take();
    // -9223372036854775808 is the one literal whose magnitude is not an int64.
    const Token& t = Peek();
    if (t.kind == Tok::kInt && t.int_value > static_cast<uint64_t>(INT64_MAX)) {
      Take();
      return AddConst(Type::kInt64, IntDatum(Type::kInt64, INT64_MIN), minus.begin, t.end);
    }
    DepthGuard guard(&depth_);
    VIGIL_RETURN_IF_ERROR(CheckDepth(minus.begin));
    VIGIL_ASSIGN_OR_RETURN(int32_t x, ParseUnary());
    VIGIL_RETURN_IF_ERROR(RequireNumber(x, "-"));
    Type type = N(x).type == Type::kTimestamp ? Type::kInt64 : N(x).type;
    return Add(MakeNode(Op::kNeg, type, type, minus.begin, N(x).end), {x});
  }

  // primary := literal | name | name '(' args ')' | '(' or_expr ')'
  Result<int32_t> ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case Tok::kInt:
        if (t.int_value > static_cast<uint64_t>(INT64_MAX)) {
          return IntegerOutOfRange(t.begin, text_.substr(t.begin, t.end - t.begin));
        }
        Take();
        return AddConst(Type::kInt64, IntDatum(Type::kInt64, static_cast<int64_t>(t.int_value)), t.begin,
                        t.end);
      case Tok::kDouble:
        Take();
        return AddConst(Type::kDouble, DoubleDatum(t.dbl_value), t.begin, t.end);
      case Tok::kString:
        Take();
        return AddConst(Type::kString, StringDatum(t.str_value), t.begin, t.end);
      case Tok::kTrue:
      case Tok::kFalse:
        Take();
        return AddConst(Type::kBool, BoolDatum(t.kind == Tok::kTrue), t.begin, t.end);
      case Tok::kNull:
        Take();
        return AddConst(Type::kNull, NullDatum(), t.begin, t.end);
      case Tok::kLParen: {
        Take();
        VIGIL_ASSIGN_OR_RETURN(int32_t inner, ParseOr());
        VIGIL_RETURN_IF_ERROR(Expect(Tok::kRParen, "')'"));
        return inner;
      }
      case Tok::kName:
        if (Peek(1).kind == Tok::kLParen) return ParseCall();
        return ResolveName();
      default:
        return Error(t.begin, "expected a value, a field, a function call or '(', found " + Describe(t));
    }
  }

  Result<int32_t> ResolveName() {
    const Token& t = Take();
    std::string_view name = text_.substr(t.begin, t.end - t.begin);
    ExprSlot slot{-1, Type::kNull};
    if (!names_ || !names_(name, &slot)) {
      return Error(t.begin, "unknown field " + Quote(name));
    }
    if (slot.index < 0) {
      return Error(t.begin, "field " + Quote(name) + " resolves to no slot");
    }
    slots_.push_back(slot.index);
    if (slot.type == Type::kNull) return AddConst(Type::kNull, NullDatum(), t.begin, t.end);
    Node node = MakeNode(Op::kSlot, slot.type, slot.type, t.begin, t.end);
    node.slot = slot.index;
    p_->nodes.push_back(node);
    return static_cast<int32_t>(p_->nodes.size() - 1);
  }

  Result<int32_t> ParseCall() {
    const Token& name_tok = Take();
    std::string_view name = text_.substr(name_tok.begin, name_tok.end - name_tok.begin);
    const FunctionInfo* fn = nullptr;
    for (const FunctionInfo& f : kFunctions) {
      if (EqualsIgnoreCase(name, f.name)) fn = &f;
    }
    if (fn == nullptr) {
      return Error(name_tok.begin, "unknown function " + Quote(name) +
                                       " (functions: abs, coalesce, exp, if, log, lower, "
                                       "max, min)");
    }
    Take();  // '('
    std::vector<int32_t> kids;
    if (Peek().kind != Tok::kRParen) {
      while (true) {
        VIGIL_ASSIGN_OR_RETURN(int32_t arg, ParseOr());
        kids.push_back(arg);
        if (Peek().kind != Tok::kComma) break;
        Take();
      }
    }
    int32_t end = Peek().end;
    VIGIL_RETURN_IF_ERROR(
        Expect(Tok::kRParen, "',' or ')' in the arguments of " + std::string(fn->name) + "()"));
    const int count = static_cast<int>(kids.size());
    if (count < fn->min_args || (fn->max_args >= 0 && count > fn->max_args)) {
      std::string want = fn->min_args == fn->max_args ? std::to_string(fn->min_args)
                                                      : "at least " + std::to_string(fn->min_args);
      return Error(name_tok.begin, std::string(fn->name) + "() takes " + want + " argument" +
                                       (fn->min_args == 1 ? "" : "s") + ", found " + std::to_string(count));
    }
    const std::string fname = std::string(fn->name) + "()";
    Node node = MakeNode(fn->op, Type::kNull, Type::kNull, name_tok.begin, end);
    switch (fn->op) {
      case Op::kAbs:
      case Op::kLog:
      case Op::kExp: {
        Type t = N(kids[0]).type;
        if (!IsNumeric(t) && t != Type::kNull) {
          return Error(N(kids[0]).begin, fname + " needs a number, found " + Describe(kids[0]));
        }
        node.type = fn->op == Op::kAbs ? t : Type::kDouble;
        break;
      }
      case Op::kLower: {
        Type t = N(kids[0]).type;
        if (t != Type::kString && t != Type::kNull) {
          return Error(N(kids[0]).begin, fname + " needs a string, found " + Describe(kids[0]));
        }
        node.type = Type::kString;
        break;
      }
      case Op::kIf: {
        Type c = N(kids[0]).type;
        if (c != Type::kBool && c != Type::kNull) {
          return Error(N(kids[0]).begin,
                       "the condition of if() must be true/false, found " + Describe(kids[0]));
        }
        if (!Unify(N(kids[1]).type, N(kids[2]).type, &node.type)) {
          return Error(N(kids[2]).begin,
                       "if() branches differ in type: " + Describe(kids[1]) + " and " + Describe(kids[2]));
        }
        WidenConst(&kids[1], node.type);
        WidenConst(&kids[2], node.type);
        break;
      }
      default: {  // min, max, coalesce: one common type
        Type type = Type::kNull;
        for (size_t k = 0; k < kids.size(); ++k) {
          Type t = N(kids[k]).type;
          if (fn->op != Op::kCoalesce && t == Type::kBool) {
            return Error(N(kids[k]).begin, fname + " needs numbers or strings, found " + Describe(kids[k]));
          }
          if (!Unify(type, t, &type)) {
            return Error(N(kids[k]).begin, fname + " arguments differ in type: " + Describe(kids[k]) +
                                               " after " + std::string(TypeName(type)) + " arguments");
          }
        }
        node.type = type;
        node.domain = type == Type::kTimestamp ? Type::kInt64 : type;
        for (int32_t& k : kids) WidenConst(&k, type);
        break;
      }
    }
    if (node.domain == Type::kNull) node.domain = node.type;
    return Add(node, kids);
  }

  std::string_view text_;
  const NameResolver& names_;
  Expr::Program* p_;
  std::vector<Token> tokens_;
  size_t next_ = 0;
  int depth_ = 0;
  std::vector<int> slots_;
};

}  // namespace

Expr::Expr() = default;
Expr::~Expr() = default;

Result<std::unique_ptr<Expr>> Expr::Compile(std::string_view text, const NameResolver& names) {
  auto program = std::make_unique<Program>();
  std::unique_ptr<Expr> expr(new Expr());
  expr->text_ = std::string(text);
  Parser parser(expr->text_, names, program.get());
  VIGIL_RETURN_IF_ERROR(parser.Run(&expr->inputs_));
  expr->program_ = std::move(program);
  return expr;
}

Value Expr::Evaluate(const Row& row) const {
  Scratch scratch;
  return ToValue(program_->Eval(program_->root, row, &scratch));
}

bool Expr::Matches(const Row& row) const {
  Scratch scratch;
  Datum d = program_->Eval(program_->root, row, &scratch);
  return d.type == Type::kBool && d.i != 0;
}

Type Expr::result_type() const { return program_->nodes[program_->root].type; }
const std::string& Expr::text() const { return text_; }
const std::vector<int>& Expr::inputs() const { return inputs_; }

}  // namespace vigil
