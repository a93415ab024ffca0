// EntityIndex against std::map under random inserts, lookups and erases, with hashes
// forced to collide so that probe runs wrap around the table and deletions shift entries.
#include "compute/entity_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace vigil {
namespace entity_index_test {

// Keys live in `keys` by slot, as ViewEngine keeps them in its windows.
struct Model {
  std::vector<std::string> keys;
  std::map<std::string, uint32_t> expected;
  EntityIndex index;
  uint64_t (*hash)(std::string_view);

  uint32_t Find(const std::string& k) const {
    return index.Find(k, hash(k), [this](uint32_t s) -> const std::string& { return keys[s]; });
  }
};

uint64_t RealHash(std::string_view k) { return EntityIndex::Hash(k); }
// 8 distinct values, all with home positions at the table's end: long runs that wrap.
uint64_t CollidingHash(std::string_view k) { return 0xffffffffull - (EntityIndex::Hash(k) & 7); }

void RunRandomOps(uint64_t (*hash)(std::string_view), uint32_t seed) {
  Model m{{}, {}, {}, hash};
  std::mt19937 rng(seed);
  std::vector<uint32_t> free_slots;
  for (int op = 0; op < 20000; ++op) {
    std::string k = "k" + std::to_string(rng() % 600);
    auto it = m.expected.find(k);
    ASSERT_EQ(m.Find(k), it == m.expected.end() ? EntityIndex::kNone : it->second) << "op " << op << " key " << k;
    if (it == m.expected.end()) {
      uint32_t slot;
      if (!free_slots.empty()) {
        slot = free_slots.back();
        free_slots.pop_back();
        m.keys[slot] = k;
      } else {
        slot = static_cast<uint32_t>(m.keys.size());
        m.keys.push_back(k);
      }
      m.index.Insert(hash(k), slot);
      m.expected[k] = slot;
    } else if (rng() % 2 == 0) {
      m.index.Erase(hash(k), it->second);
      free_slots.push_back(it->second);
      m.keys[it->second] = "";  // a freed slot's key is gone, as a dropped window's is
      m.expected.erase(it);
    }
    ASSERT_EQ(m.index.size(), m.expected.size());
  }
  for (const auto& [k, slot] : m.expected) EXPECT_EQ(m.Find(k), slot) << k;
  EXPECT_EQ(m.Find("never"), EntityIndex::kNone);
}

TEST(EntityIndex, MatchesAMapUnderRandomOperations) {
  for (uint32_t seed = 1; seed <= 3; ++seed) RunRandomOps(RealHash, seed);
}

TEST(EntityIndex, CollidingHashesWrapAndShiftCorrectly) {
  for (uint32_t seed = 1; seed <= 3; ++seed) RunRandomOps(CollidingHash, seed);
}

TEST(EntityIndex, EmptyIndexFindsNothing) {
  EntityIndex index;
  EXPECT_EQ(index.Find("a", EntityIndex::Hash("a"), [](uint32_t) { return std::string_view("a"); }),
            EntityIndex::kNone);
  EXPECT_EQ(index.size(), 0u);
}

}  // namespace entity_index_test
}  // namespace vigil
