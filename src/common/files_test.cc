// files.h: atomic replacement and whole-file reads, and the FNV-1a hash against the
// published test vectors (its values are persisted in fingerprints: they must not change).
#include "common/files.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/test_util.h"

namespace vigil {
namespace files_test {

TEST(Files, WriteFileAtomicReplacesAndLeavesNoTemporary) {
  test::ScratchDir dir("vigil_files");
  std::string path = dir.path() + "/state.json";
  ASSERT_TRUE(WriteFileAtomic(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomic(path, std::string("second\0with a zero", 18)).ok());
  auto text = ReadWholeFile(path);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, std::string("second\0with a zero", 18));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Files, ReadWholeFileTellsMissingFromUnreadable) {
  test::ScratchDir dir("vigil_files");
  auto missing = ReadWholeFile(dir.path() + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
  EXPECT_FALSE(WriteFileAtomic(dir.path() + "/no/such/dir/file", "x").ok());
  auto dir_read = ReadWholeFile(dir.path());  // a directory: unreadable, not missing
  ASSERT_FALSE(dir_read.ok());
  EXPECT_FALSE(dir_read.status().IsNotFound()) << dir_read.status().ToString();
}

TEST(Files, ReadWholeFileReadsEmptyLargeAndUnsizedFiles) {
  test::ScratchDir dir("vigil_files");
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/empty", "").ok());
  auto empty = ReadWholeFile(dir.path() + "/empty");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/big", big).ok());
  auto read = ReadWholeFile(dir.path() + "/big");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, big);
  // /proc files report size 0 and have content: read until EOF, not to the size.
  auto proc = ReadWholeFile("/proc/self/status");
  ASSERT_TRUE(proc.ok()) << proc.status().ToString();
  EXPECT_NE(proc->find("VmRSS"), std::string::npos);
}

TEST(Files, ReadFileIntoFillsTheBufferOrSaysWhyNot) {
  test::ScratchDir dir("vigil_files");
  std::string big(5 * 1024 * 1024 + 3, '\0');  // more than one read may return
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 253);
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/big", big).ok());
  std::string out(big.size() + 10, '#');
  Status st = ReadFileInto(dir.path() + "/big", out.data(), big.size());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(out.substr(0, big.size()), big);
  EXPECT_EQ(out.substr(big.size()), std::string(10, '#')) << "nothing written past size";
  EXPECT_TRUE(ReadFileInto(dir.path() + "/big", out.data(), 0).ok());

  Status shorter = ReadFileInto(dir.path() + "/big", out.data(), big.size() + 1);
  ASSERT_FALSE(shorter.ok());
  EXPECT_NE(shorter.ToString().find("bytes, want"), std::string::npos) << shorter.ToString();
  Status missing = ReadFileInto(dir.path() + "/nope", out.data(), 1);
  EXPECT_TRUE(missing.IsNotFound()) << missing.ToString();
  Status directory = ReadFileInto(dir.path(), out.data(), 1);
  ASSERT_FALSE(directory.ok());
  EXPECT_FALSE(directory.IsNotFound()) << directory.ToString();
}

TEST(Files, SyncFilesystemSyncsWhereThePathIsOrSaysWhyNot) {
  test::ScratchDir dir("vigil_files");
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/f", "x").ok());
  EXPECT_TRUE(SyncFilesystem(dir.path()).ok());
  EXPECT_TRUE(SyncFilesystem(dir.path() + "/f").ok()) << "a file names its filesystem too";
  Status missing = SyncFilesystem(dir.path() + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.ToString().find(dir.path() + "/nope"), std::string::npos) << missing.ToString();
}

TEST(Files, Fnv1a64MatchesTheReferenceVectors) {
  EXPECT_EQ(Hex64(Fnv1a64("")), "cbf29ce484222325");
  EXPECT_EQ(Hex64(Fnv1a64("a")), "af63dc4c8601ec8c");
  EXPECT_EQ(Fnv1a64("foobar"), Fnv1a64("bar", Fnv1a64("foo")));  // pieces hash as one text
  EXPECT_EQ(Hex64(Fnv1a64("foobar")), "85944171f73967e8");
}

}  // namespace files_test
}  // namespace vigil
