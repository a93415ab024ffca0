#include "generate/generator.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace vigil {
namespace generator_test {

namespace fs = std::filesystem;

constexpr const char* kSourceFiles[] = {"logins.jsonl", "transactions.jsonl", "withdrawals.jsonl",
                                        "p2p_orders.jsonl", "account_events.jsonl"};
constexpr const char* kAllFiles[] = {"logins.jsonl",     "transactions.jsonl",   "withdrawals.jsonl",
                                     "p2p_orders.jsonl", "account_events.jsonl", "labels.csv"};
constexpr int64_t kDayMs = 86'400'000;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out.emplace_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

// The raw value of "key" in a flat JSON line as this generator writes it: a string without
// its quotes, or the text of a number or bool. Empty if absent.
std::string Field(std::string_view line, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":";
  const size_t at = line.find(needle);
  if (at == std::string_view::npos) return "";
  size_t pos = at + needle.size();
  if (line[pos] == '"') {
    const size_t close = line.find('"', pos + 1);
    return std::string(line.substr(pos + 1, close - pos - 1));
  }
  const size_t end = line.find_first_of(",}", pos);
  return std::string(line.substr(pos, end - pos));
}

int64_t ToInt(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    const size_t comma = line.find(',', pos);
    out.push_back(line.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) return out;
    pos = comma + 1;
  }
}

struct ParsedEvent {
  std::string source;
  std::string user;
  std::string device;
  std::string card;
  std::string country, amount;
  int64_t ts = 0;
};

struct Label {
  std::string event_id, source, user, device, card, fraud_type, amount;
  int64_t ts = 0, known_at = 0;
  bool is_fraud = false;
};

class GeneratorTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const fs::path& d : dirs_) fs::remove_all(d);
  }

  // A fresh, empty directory for one run.
  std::string Dir(const std::string& name) {
    fs::path d =
        fs::path(::testing::TempDir()) / ("vigil_generate_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(d);
    dirs_.push_back(d);
    return d.string();
  }

  static GenerateOptions Options(const std::string& dir) {
    GenerateOptions o;
    o.users = 3000;
    o.days = 7;
    o.seed = 42;
    o.threads = 2;
    o.out_dir = dir;
    return o;
  }

  static GenerateStats MustGenerate(const GenerateOptions& o) {
    Result<GenerateStats> r = Generate(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : GenerateStats{};
  }

  static std::vector<Label> ReadLabels(const std::string& dir) {
    std::vector<Label> out;
    const std::vector<std::string> lines = Lines(ReadFile(fs::path(dir) / "labels.csv"));
    EXPECT_FALSE(lines.empty());
    EXPECT_EQ(lines[0], "event_id,source,user_id,device_id,card_id,ts,is_fraud,fraud_type,known_at,amount");
    for (size_t i = 1; i < lines.size(); ++i) {
      const std::vector<std::string> f = SplitCsv(lines[i]);
      EXPECT_EQ(f.size(), 10u) << lines[i];
      if (f.size() != 10) continue;
      Label l;
      l.event_id = f[0];
      l.source = f[1];
      l.user = f[2];
      l.device = f[3];
      l.card = f[4];
      l.ts = ToInt(f[5]);
      EXPECT_TRUE(f[6] == "0" || f[6] == "1") << lines[i];
      l.is_fraud = f[6] == "1";
      l.fraud_type = f[7];
      l.known_at = ToInt(f[8]);
      l.amount = f[9];
      out.push_back(std::move(l));
    }
    return out;
  }

 private:
  std::vector<fs::path> dirs_;
};

TEST_F(GeneratorTest, SameSeedGivesSameBytesAndOtherSeedDiffers) {
  GenerateOptions a = Options(Dir("a"));
  GenerateOptions b = Options(Dir("b"));
  GenerateOptions c = Options(Dir("c"));
  c.seed = 43;
  MustGenerate(a);
  MustGenerate(b);
  MustGenerate(c);
  for (const char* f : kAllFiles) {
    const std::string bytes = ReadFile(fs::path(a.out_dir) / f);
    EXPECT_FALSE(bytes.empty()) << f;
    EXPECT_EQ(bytes, ReadFile(fs::path(b.out_dir) / f)) << f;
    EXPECT_NE(bytes, ReadFile(fs::path(c.out_dir) / f)) << f;
  }
}

TEST_F(GeneratorTest, ThreadCountDoesNotChangeOutput) {
  GenerateOptions one = Options(Dir("t1"));
  one.threads = 1;
  one.drift_day = 3;
  GenerateOptions two = one;
  two.out_dir = Dir("t2");
  two.threads = 2;
  GenerateOptions five = one;
  five.out_dir = Dir("t5");
  five.threads = 5;
  MustGenerate(one);
  MustGenerate(two);
  MustGenerate(five);
  for (const char* f : kAllFiles) {
    const std::string bytes = ReadFile(fs::path(one.out_dir) / f);
    EXPECT_EQ(bytes, ReadFile(fs::path(two.out_dir) / f)) << f;
    EXPECT_EQ(bytes, ReadFile(fs::path(five.out_dir) / f)) << f;
  }
}

TEST_F(GeneratorTest, FilesAreSortedWellFormedAndLabelsReferenceEvents) {
  GenerateOptions o = Options(Dir("shape"));
  const GenerateStats stats = MustGenerate(o);
  const int64_t begin = o.start, end = o.start + o.days * kDayMs;

  // The schema of each file: key and type (s string, i integer, d double, b bool), in order.
  using Schema = std::vector<std::pair<std::string, char>>;
  const std::map<std::string, Schema> schemas = {
      {"logins.jsonl",
       {{"event_id", 's'},
        {"ts", 'i'},
        {"user_id", 's'},
        {"device_id", 's'},
        {"ip", 's'},
        {"country", 's'},
        {"success", 'b'},
        {"method", 's'}}},
      {"transactions.jsonl",
       {{"txn_id", 's'},
        {"ts", 'i'},
        {"user_id", 's'},
        {"card_id", 's'},
        {"device_id", 's'},
        {"amount", 'd'},
        {"currency", 's'},
        {"status", 's'},
        {"ip", 's'},
        {"country", 's'},
        {"asset", 's'}}},
      {"withdrawals.jsonl",
       {{"withdrawal_id", 's'},
        {"ts", 'i'},
        {"user_id", 's'},
        {"device_id", 's'},
        {"amount", 'd'},
        {"asset", 's'},
        {"address", 's'},
        {"address_is_new", 'b'},
        {"country", 's'}}},
      {"p2p_orders.jsonl",
       {{"order_id", 's'},
        {"ts", 'i'},
        {"user_id", 's'},
        {"counterparty_id", 's'},
        {"device_id", 's'},
        {"amount", 'd'},
        {"side", 's'},
        {"payment_method", 's'},
        {"status", 's'},
        {"counterparty_is_new", 'b'}}},
      {"account_events.jsonl",
       {{"event_id", 's'},
        {"ts", 'i'},
        {"user_id", 's'},
        {"device_id", 's'},
        {"kind", 's'},
        {"ip", 's'},
        {"country", 's'}}},
  };
  const std::map<std::string, std::string> source_of = {{"logins.jsonl", "logins"},
                                                        {"transactions.jsonl", "transactions"},
                                                        {"withdrawals.jsonl", "withdrawals"},
                                                        {"p2p_orders.jsonl", "p2p_orders"},
                                                        {"account_events.jsonl", "account_events"}};

  std::unordered_map<std::string, ParsedEvent> events;
  int64_t labelled_events = 0;
  for (const char* file : kSourceFiles) {
    const Schema& schema = schemas.at(file);
    const std::vector<std::string> lines = Lines(ReadFile(fs::path(o.out_dir) / file));
    EXPECT_GT(lines.size(), 0u) << file;
    EXPECT_EQ(static_cast<int64_t>(lines.size()), stats.events_per_source.at(source_of.at(file)));
    int64_t prev_ts = INT64_MIN;
    std::string prev_id;
    for (const std::string& line : lines) {
      // Valid JSON with exactly the schema's keys, in order, of the schema's types.
      const nlohmann::ordered_json j = nlohmann::ordered_json::parse(line, nullptr, false);
      ASSERT_TRUE(j.is_object()) << file << ": not a JSON object: " << line;
      ASSERT_EQ(j.size(), schema.size()) << line;
      size_t k = 0;
      for (const auto& [key, value] : j.items()) {
        const auto& [want_key, type] = schema[k++];
        ASSERT_EQ(key, want_key) << line;
        const bool type_ok = (type == 's' && value.is_string()) ||
                             (type == 'i' && value.is_number_integer()) ||
                             (type == 'd' && value.is_number_float()) || (type == 'b' && value.is_boolean());
        ASSERT_TRUE(type_ok) << key << " has the wrong type in " << line;
      }
      const std::string id = Field(line, schema[0].first);
      const int64_t ts = ToInt(Field(line, "ts"));
      ASSERT_TRUE(ts >= begin && ts < end) << line;
      ASSERT_TRUE(ts > prev_ts || (ts == prev_ts && id > prev_id)) << file << " unsorted at " << line;
      prev_ts = ts;
      prev_id = id;
      if (line.find("\"amount\":") != std::string::npos) {
        const std::string amount = Field(line, "amount");
        const size_t dot = amount.find('.');
        ASSERT_NE(dot, std::string::npos) << line;
        ASSERT_LE(amount.size() - dot - 1, 2u) << "not rounded to cents: " << line;
        ASSERT_GT(std::stod(amount), 0.0) << line;
      }
      ParsedEvent e;
      e.source = source_of.at(file);
      e.user = Field(line, "user_id");
      e.device = Field(line, "device_id");
      e.card = Field(line, "card_id");
      e.country = Field(line, "country");
      e.amount = Field(line, "amount");
      e.ts = ts;
      ASSERT_TRUE(events.emplace(id, e).second) << "duplicate id " << id;
      if (e.source == "transactions" || e.source == "withdrawals" || e.source == "p2p_orders") {
        ++labelled_events;
      }
    }
  }

  const std::vector<Label> labels = ReadLabels(o.out_dir);
  EXPECT_EQ(static_cast<int64_t>(labels.size()), labelled_events);
  EXPECT_EQ(static_cast<int64_t>(labels.size()), stats.labels);
  std::unordered_set<std::string> labelled;
  int64_t fraud = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const Label& l = labels[i];
    if (i > 0) {
      const Label& p = labels[i - 1];
      ASSERT_TRUE(l.ts > p.ts || (l.ts == p.ts && l.event_id > p.event_id)) << l.event_id;
    }
    ASSERT_TRUE(labelled.insert(l.event_id).second) << "labelled twice: " << l.event_id;
    auto it = events.find(l.event_id);
    ASSERT_NE(it, events.end()) << "label for unknown event " << l.event_id;
    const ParsedEvent& e = it->second;
    EXPECT_EQ(l.source, e.source);
    EXPECT_EQ(l.user, e.user);
    EXPECT_EQ(l.device, e.device);
    EXPECT_EQ(l.card, e.card);
    EXPECT_EQ(l.amount, e.amount) << l.event_id;
    EXPECT_EQ(l.ts, e.ts);
    if (l.is_fraud) {
      ++fraud;
      EXPECT_NE(l.fraud_type, "none");
      EXPECT_GE(l.known_at - l.ts, kDayMs / 2 - 1000);
      EXPECT_LE(l.known_at - l.ts, 7 * kDayMs);
    } else {
      EXPECT_EQ(l.fraud_type, "none");
      EXPECT_EQ(l.known_at - l.ts, 7 * kDayMs);
    }
  }
  EXPECT_EQ(fraud, stats.fraud_labels);
}

TEST_F(GeneratorTest, FraudMixIsInASaneRange) {
  GenerateOptions o = Options(Dir("mix"));
  o.users = 10000;
  MustGenerate(o);
  const std::vector<Label> labels = ReadLabels(o.out_dir);
  std::map<std::string, std::set<std::string>> users_by_type;
  std::set<std::string> all_users;
  int64_t fraud = 0;
  for (const Label& l : labels) {
    all_users.insert(l.user);
    if (!l.is_fraud) continue;
    ++fraud;
    users_by_type[l.fraud_type].insert(l.user);
  }
  std::set<std::string> fraud_users;
  for (const auto& [type, users] : users_by_type) fraud_users.insert(users.begin(), users.end());
  const double user_share = static_cast<double>(fraud_users.size()) / o.users;
  const double label_share = static_cast<double>(fraud) / labels.size();
  std::printf("fraud users %.2f%% (ato %zu, stolen_card %zu, p2p_scam %zu), fraud labels %.2f%%\n",
              100 * user_share, users_by_type["ato"].size(), users_by_type["stolen_card"].size(),
              users_by_type["p2p_scam"].size(), 100 * label_share);
  EXPECT_GE(user_share, 0.008);
  EXPECT_LE(user_share, 0.035);
  EXPECT_GE(label_share, 0.005);
  EXPECT_LE(label_share, 0.15);
  for (const char* type : {"ato", "stolen_card", "p2p_scam"}) {
    EXPECT_GE(users_by_type[type].size(), 10u) << type;
  }
  EXPECT_EQ(users_by_type.size(), 3u);
}

// The drift must move the signals a model learns before it: ATO from a foreign country and
// stolen cards piling up on one device.
TEST_F(GeneratorTest, DriftChangesAttackSignature) {
  GenerateOptions o = Options(Dir("drift"));
  o.users = 12000;
  o.days = 14;
  o.drift_day = 7;
  MustGenerate(o);
  const int64_t drift_ts = o.start + o.drift_day * kDayMs;

  // Home country = the country of most of a user's logins.
  std::unordered_map<std::string, std::map<std::string, int>> login_countries;
  for (const std::string& line : Lines(ReadFile(fs::path(o.out_dir) / "logins.jsonl"))) {
    ++login_countries[Field(line, "user_id")][Field(line, "country")];
  }
  auto home = [&](const std::string& user) {
    const auto& m = login_countries[user];
    return std::max_element(m.begin(), m.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
  };
  std::unordered_map<std::string, std::string> wd_country;
  for (const std::string& line : Lines(ReadFile(fs::path(o.out_dir) / "withdrawals.jsonl"))) {
    wd_country[Field(line, "withdrawal_id")] = Field(line, "country");
  }
  struct Txn {
    std::string device, card, status;
    int64_t ts;
  };
  std::unordered_map<std::string, Txn> txns;
  for (const std::string& line : Lines(ReadFile(fs::path(o.out_dir) / "transactions.jsonl"))) {
    txns[Field(line, "txn_id")] = {Field(line, "device_id"), Field(line, "card_id"), Field(line, "status"),
                                   ToInt(Field(line, "ts"))};
  }

  int ato[2] = {0, 0}, ato_foreign[2] = {0, 0};
  std::map<std::string, std::set<std::string>> cards_per_device[2];
  int card_txns[2] = {0, 0}, card_failures[2] = {0, 0};
  for (const Label& l : ReadLabels(o.out_dir)) {
    const int post = l.ts >= drift_ts;
    if (l.fraud_type == "ato" && l.source == "withdrawals") {
      ++ato[post];
      ato_foreign[post] += wd_country.at(l.event_id) != home(l.user);
    }
    if (l.fraud_type == "stolen_card" && l.source == "transactions") {
      const Txn& t = txns.at(l.event_id);
      cards_per_device[post][t.device].insert(t.card);
      ++card_txns[post];
      card_failures[post] += t.status != "approved";
    }
  }
  auto mean_cards = [](const std::map<std::string, std::set<std::string>>& m) {
    double sum = 0;
    for (const auto& [device, cards] : m) sum += cards.size();
    return m.empty() ? 0.0 : sum / m.size();
  };
  const double foreign_pre = static_cast<double>(ato_foreign[0]) / std::max(1, ato[0]);
  const double foreign_post = static_cast<double>(ato_foreign[1]) / std::max(1, ato[1]);
  const double fail_pre = static_cast<double>(card_failures[0]) / std::max(1, card_txns[0]);
  const double fail_post = static_cast<double>(card_failures[1]) / std::max(1, card_txns[1]);
  std::printf("ATO withdrawals from a foreign country: %.0f%% of %d before, %.0f%% of %d after\n",
              100 * foreign_pre, ato[0], 100 * foreign_post, ato[1]);
  std::printf("stolen cards per device: %.1f before, %.1f after; failed/declined %.0f%% -> %.0f%%\n",
              mean_cards(cards_per_device[0]), mean_cards(cards_per_device[1]), 100 * fail_pre,
              100 * fail_post);
  EXPECT_GE(ato[0], 20);
  EXPECT_GE(ato[1], 20);
  EXPECT_GT(foreign_pre, 0.9);
  EXPECT_LT(foreign_post, 0.1);
  EXPECT_GT(mean_cards(cards_per_device[0]), 4.0);
  EXPECT_LT(mean_cards(cards_per_device[1]), 1.5);
  EXPECT_GT(fail_pre, 2 * fail_post);
}

TEST_F(GeneratorTest, NoDriftKeepsTheEarlySignature) {
  GenerateOptions o = Options(Dir("nodrift"));
  o.users = 6000;
  o.days = 10;
  MustGenerate(o);
  // Without drift every ATO withdrawal is the fast kind: to an address new to the victim.
  int ato = 0, new_address = 0;
  std::unordered_map<std::string, bool> is_new;
  for (const std::string& line : Lines(ReadFile(fs::path(o.out_dir) / "withdrawals.jsonl"))) {
    is_new[Field(line, "withdrawal_id")] = Field(line, "address_is_new") == "true";
  }
  for (const Label& l : ReadLabels(o.out_dir)) {
    if (l.fraud_type != "ato" || l.source != "withdrawals") continue;
    ++ato;
    new_address += is_new.at(l.event_id);
  }
  EXPECT_GT(ato, 10);
  EXPECT_EQ(new_address, ato);
}

TEST_F(GeneratorTest, RejectsBadOptions) {
  GenerateOptions o = Options(Dir("bad"));
  o.users = 0;
  EXPECT_TRUE(Generate(o).status().IsInvalidArgument());
  o = Options(Dir("bad"));
  o.days = 0;
  EXPECT_TRUE(Generate(o).status().IsInvalidArgument());
  o = Options(Dir("bad"));
  o.drift_day = -2;
  EXPECT_TRUE(Generate(o).status().IsInvalidArgument());
  o = Options("");
  EXPECT_TRUE(Generate(o).status().IsInvalidArgument());
  o = Options("/proc/vigil_cannot_create_this");
  EXPECT_EQ(Generate(o).status().code(), Status::Code::kIOError);
}

TEST_F(GeneratorTest, TinyRunsWork) {
  GenerateOptions o = Options(Dir("tiny"));
  o.users = 1;
  o.days = 1;
  EXPECT_TRUE(Generate(o).ok());
  EXPECT_EQ(kDefaultGenerateStart, DaysFromCivil(2026, 1, 5) * kDayMs);
}

// Not a benchmark (DESIGN.md §8): prints a figure for the record, asserts nothing about it.
TEST_F(GeneratorTest, PrintsThroughput) {
  GenerateOptions o = Options(Dir("speed"));
  o.users = 40000;
  o.days = 7;
  o.threads = 0;
  const std::clock_t cpu_start = std::clock();  // all threads of the process
  const GenerateStats stats = MustGenerate(o);
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  int64_t events = 0;
  for (const auto& [source, n] : stats.events_per_source) events += n;
  int64_t bytes = 0;
  for (const char* f : kAllFiles) bytes += static_cast<int64_t>(fs::file_size(fs::path(o.out_dir) / f));
  // The CPU figure is the one to compare when other work shares the machine.
  std::printf(
      "generate: %lld users x %d days: %lld events, %lld labels, %.1f MB in %.3f s = "
      "%.2f M events/s (%u threads; %.3f CPU-s = %.2f M events per CPU-s)\n",
      static_cast<long long>(o.users), o.days, static_cast<long long>(events),
      static_cast<long long>(stats.labels), bytes / 1e6, stats.seconds, events / stats.seconds / 1e6,
      std::thread::hardware_concurrency(), cpu_seconds, events / cpu_seconds / 1e6);
}

}  // namespace generator_test
}  // namespace vigil
