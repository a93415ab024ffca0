// Support for the unit tests of every part (src/<part>/*_test.cc): a scratch directory
// and a text-file writer. Test code only: header-only, standard library and gtest.
// The end-to-end tests in tests/ have their own (tests/e2e_util.h).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace vigil::test {

// A fresh directory under the system temporary directory ($TMPDIR, else /tmp), e.g.
// /tmp/vigil_log_Ab12Cd for the prefix "vigil_log", removed with everything in it on
// destruction, unless the environment sets VIGIL_KEEP_TMP (then its path is printed to
// stderr, for a post-mortem). A directory that cannot be made aborts the test binary.
// Not copyable.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view prefix = "vigil") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(prefix) + "_XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
      std::abort();
    }
    path_ = tmpl;
  }
  ~ScratchDir() {
    if (std::getenv("VIGIL_KEEP_TMP") != nullptr) {
      std::fprintf(stderr, "VIGIL_KEEP_TMP: kept %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + relative.
  std::string Path(std::string_view relative) const { return path_ + "/" + std::string(relative); }
  // Writes `text` to Path(relative); see WriteTextFile.
  void Write(std::string_view relative, std::string_view text) const;

 private:
  std::string path_;
};

// Creates or truncates `path` and writes `text` to it. The parent directory must exist.
// A failure is a gtest failure (ADD_FAILURE) naming the path.
inline void WriteTextFile(const std::string& path, std::string_view text) {
  std::ofstream f(path);
  f << text;
  f.close();
  if (!f) ADD_FAILURE() << "cannot write " << path;
}

inline void ScratchDir::Write(std::string_view relative, std::string_view text) const {
  WriteTextFile(Path(relative), text);
}

}  // namespace vigil::test
