// The unity build (CMakeLists.txt, VIGIL_UNITY) compiles each part's .cc files as one
// translation unit, so a name in one file's anonymous namespace is visible to the files
// after it. Two files' helpers of the same name then either fail to compile or, worse,
// overload each other: a call picks the other file's function when its parameter types
// fit better (HigherIsBetter(std::string) of retrain.cc took xgboost_model.cc's calls
// with a std::string, so early stopping maximized log loss).
//
// This test reads every part's non-test sources and fails when a name declared at the top
// of one file's anonymous namespace is used, unqualified, in another file of the same
// part. Aliases (`using json = ...`, `namespace fs = ...`) may repeat when every file
// gives the same definition.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace vigil::e2e {
namespace unity_names_test {

namespace fs = std::filesystem;

// The text with comments and string/char literals blanked (raw strings included), so a
// name in a message or a comment does not count as a use.
std::string Code(const std::string& text) {
  std::string out = text;
  size_t i = 0;
  auto blank = [&](size_t from, size_t to) {
    for (size_t k = from; k < to && k < out.size(); ++k) {
      if (out[k] != '\n') out[k] = ' ';
    }
  };
  while (i < text.size()) {
    if (text.compare(i, 2, "//") == 0) {
      size_t end = text.find('\n', i);
      if (end == std::string::npos) end = text.size();
      blank(i, end);
      i = end;
    } else if (text.compare(i, 2, "/*") == 0) {
      size_t end = text.find("*/", i + 2);
      end = end == std::string::npos ? text.size() : end + 2;
      blank(i, end);
      i = end;
    } else if (text.compare(i, 2, "R\"") == 0) {
      size_t paren = text.find('(', i + 2);
      if (paren == std::string::npos) break;
      const std::string close = ")" + text.substr(i + 2, paren - i - 2) + "\"";
      size_t end = text.find(close, paren);
      end = end == std::string::npos ? text.size() : end + close.size();
      blank(i + 1, end);
      i = end;
    } else if (text[i] == '"' ||
               (text[i] == '\'' && (i == 0 || !std::isxdigit(static_cast<unsigned char>(text[i - 1]))))) {
      // (a quote after a digit is a digit separator: 1'000)
      const char quote = text[i];
      size_t k = i + 1;
      while (k < text.size() && text[k] != quote && text[k] != '\n') k += text[k] == '\\' ? 2 : 1;
      blank(i + 1, k);
      i = k + 1;
    } else {
      ++i;
    }
  }
  return out;
}

struct Declared {
  std::string name;
  std::string alias_of;  // for an alias, its definition (whitespace-normalized); else ""
};

// The names declared at the top level of `code`'s anonymous namespaces (by this project's
// layout: `namespace {` at column 0 to its `}  // namespace`, declarations at column 0).
std::vector<Declared> AnonymousNamespaceNames(const std::string& original, const std::string& code) {
  static const std::regex type_re(
      R"(^(?:template\s*<.*>\s*)?(?:struct|class|enum class|enum|union)\s+(\w+))");
  static const std::regex alias_re(R"(^(?:using\s+(\w+)\s*=|namespace\s+(\w+)\s*=)\s*([^;]+);)");
  static const std::regex other_re(R"(^[^=(]*?[\s*&](\w+)\s*(?:\(|=|\{|\[|;))");
  std::vector<Declared> out;
  std::istringstream code_lines(code), original_lines(original);
  std::string line, text;
  bool inside = false;
  int depth = 0;
  while (std::getline(code_lines, line) && std::getline(original_lines, text)) {
    if (!inside) {
      inside = line.rfind("namespace {", 0) == 0;
      depth = 0;
      continue;
    }
    if (depth == 0 && text.rfind("}  // namespace", 0) == 0 &&
        text.find_first_not_of(" ", 15) == std::string::npos) {
      inside = false;
      continue;
    }
    if (depth == 0 && !line.empty() && line[0] != ' ' && line[0] != '#' && line[0] != '}') {
      std::smatch m;
      if (std::regex_search(line, m, alias_re)) {
        std::string def = m[3];
        def.erase(std::remove_if(def.begin(), def.end(), ::isspace), def.end());
        out.push_back({m[1].matched ? m[1].str() : m[2].str(), def});
      } else if (std::regex_search(line, m, type_re) || std::regex_search(line, m, other_re)) {
        if (m[1] != "operator") out.push_back({m[1], ""});
      }
    }
    depth += static_cast<int>(std::count(line.begin(), line.end(), '{')) -
             static_cast<int>(std::count(line.begin(), line.end(), '}'));
  }
  return out;
}

// Whether `code` uses `name` unqualified: not after '.', '->' or '::'.
bool UsesUnqualified(const std::string& code, const std::string& name) {
  const std::regex use("(^|[^\\w.:>])" + name + "\\b");
  return std::regex_search(code, use);
}

TEST(UnityNames, NoAnonymousNamespaceNameCrossesFilesOfAPart) {
  const fs::path src = fs::path(SourceDir()) / "src";
  int parts = 0, files_read = 0;
  for (const auto& part : fs::directory_iterator(src)) {
    if (!part.is_directory()) continue;
    std::map<std::string, std::string> code, original;  // file -> text
    for (const auto& e : fs::directory_iterator(part.path())) {
      const std::string name = e.path().filename().string();
      if (e.path().extension() != ".cc" || name.ends_with("_test.cc") || name == "main.cc") continue;
      original[name] = ReadFile(e.path().string());
      code[name] = Code(original[name]);
      ++files_read;
    }
    ++parts;
    std::map<std::string, std::map<std::string, std::string>> aliases;  // name -> file -> definition
    for (const auto& [file, text] : code) {
      for (const Declared& d : AnonymousNamespaceNames(original[file], text)) {
        if (!d.alias_of.empty()) {
          aliases[d.name][file] = d.alias_of;
          continue;
        }
        for (const auto& [other, other_text] : code) {
          if (other != file && UsesUnqualified(other_text, d.name)) {
            ADD_FAILURE() << part.path().filename().string() << "/" << file << " declares '" << d.name
                          << "' in its anonymous namespace and " << other
                          << " uses that name: in the unity build they meet. Rename one, or share it "
                             "through a header.";
          }
        }
      }
    }
    for (const auto& [name, by_file] : aliases) {
      std::set<std::string> definitions;
      for (const auto& [file, def] : by_file) definitions.insert(def);
      EXPECT_EQ(definitions.size(), 1u) << part.path().filename().string() << ": alias '" << name
                                        << "' has different definitions in " << by_file.size() << " files";
    }
  }
  EXPECT_GE(parts, 10);
  EXPECT_GE(files_read, 60);
}

// The scanner itself: it must see a clash and ignore comments, strings and qualified uses.
TEST(UnityNames, TheScannerSeesAClashAndIgnoresCommentsStringsAndQualifiedUses) {
  const std::string a =
      "namespace vigil {\nnamespace {\n\nbool HigherIsBetter(const std::string& m) {\n  return m != "
      "\"x\";\n}\nusing json = nlohmann::json;\n\n}  // namespace\n}  // namespace vigil\n";
  std::vector<Declared> names = AnonymousNamespaceNames(a, Code(a));
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].name, "HigherIsBetter");
  EXPECT_EQ(names[0].alias_of, "");
  EXPECT_EQ(names[1].name, "json");
  EXPECT_EQ(names[1].alias_of, "nlohmann::json");
  EXPECT_TRUE(UsesUnqualified(Code("  bool up = HigherIsBetter(name);\n"), "HigherIsBetter"));
  EXPECT_FALSE(
      UsesUnqualified(Code("  // HigherIsBetter(name)\n  f(\"HigherIsBetter\");\n"), "HigherIsBetter"));
  EXPECT_FALSE(UsesUnqualified(Code("  r.HigherIsBetter(x); p->HigherIsBetter(x); X::HigherIsBetter(x);\n"),
                               "HigherIsBetter"));
  EXPECT_FALSE(UsesUnqualified(Code("  auto s = R\"(HigherIsBetter(x))\";\n"), "HigherIsBetter"));
}

}  // namespace unity_names_test
}  // namespace vigil::e2e
