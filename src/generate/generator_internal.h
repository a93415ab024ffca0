// Internals of the event generator, shared by its .cc files and tests only.
//
// The generator runs day by day. For each day, every user (in shards, on any thread)
// appends that day's events to its shard's buffers; the behaviour of user u on day d is a
// pure function of (seed, u, d) and u's state after day d-1, so the events do not depend on
// which thread made them. Events may lie in a later day (a cash-out that runs past
// midnight); they wait in the shard until their day is written. The written order is
// (ts, user, seq) per source, a total order, so any sharding gives the same bytes.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <vector>

#include "common/time.h"

namespace vigil::generate_internal {

inline constexpr int64_t kSecondMs = 1000;
inline constexpr int64_t kMinuteMs = 60 * kSecondMs;
inline constexpr int64_t kHourMs = 60 * kMinuteMs;
inline constexpr int64_t kDayMs = 24 * kHourMs;

// ---------------------------------------------------------------------------------------
// Randomness: every stream is seeded by hashing (seed, purpose, user, ...), never shared.

// The splitmix64 finaliser: a bijection on 64-bit values with good avalanche.
constexpr uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
constexpr uint64_t Hash(uint64_t a, uint64_t b) {
  return Mix64(Mix64(a + 0x9e3779b97f4a7c15ULL) ^ (b + 0x632be59bd9b4e019ULL));
}
constexpr uint64_t Hash(uint64_t a, uint64_t b, uint64_t c) { return Hash(Hash(a, b), c); }
constexpr uint64_t Hash(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  return Hash(Hash(Hash(a, b), c), d);
}

// xoshiro256** seeded through splitmix64. Distributions are our own (not <random>'s),
// so the stream is the same with any standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& s : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      s = Mix64(seed);
    }
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // In [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // In [0, n). REQUIRES: n > 0.
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // In [lo, hi]. REQUIRES: lo <= hi.
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }
  bool Chance(double p) { return Uniform() < p; }
  double Normal() {
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // exp(N(log median, sigma^2)): right-skewed, median `median`.
  double LogNormal(double median, double sigma) { return median * std::exp(sigma * Normal()); }
  // xm * U^(-1/alpha): heavy tail, minimum xm.
  double Pareto(double xm, double alpha) { return xm * std::pow(1.0 - Uniform(), -1.0 / alpha); }
  int Poisson(double lambda) {
    if (lambda <= 0) return 0;
    if (lambda > 30) {
      const double x = std::round(lambda + std::sqrt(lambda) * Normal());
      return x < 0 ? 0 : static_cast<int>(x);
    }
    const double limit = std::exp(-lambda);
    int k = 0;
    for (double p = Uniform(); p > limit; p *= Uniform()) ++k;
    return k;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// ---------------------------------------------------------------------------------------
// Events

// Values index the per-source tables in generator.cc and fix the tie order of labels.csv:
// ascending enum order must equal ascending id-prefix order (acc_ < lgn_ < p2p_ < ...).
enum Source : uint8_t {
  kAccountEvents = 0,
  kLogins = 1,
  kP2pOrders = 2,
  kTransactions = 3,
  kWithdrawals = 4,
};
inline constexpr int kNumSources = 5;

enum FraudType : uint8_t { kNoFraud = 0, kAto = 1, kStolenCard = 2, kP2pScam = 3 };

enum LoginMethod : uint8_t { kPassword = 0, kSso = 1, kApi = 2 };
enum TxnStatus : uint8_t { kApproved = 0, kDeclined = 1, kFailed = 2 };
enum P2pStatus : uint8_t { kCompleted = 0, kCancelled = 1, kDisputed = 2 };
enum P2pSide : uint8_t { kBuy = 0, kSell = 1 };
enum AccountKind : uint8_t { kPasswordReset = 0, kTwoFaChange = 1, kApiKeyCreated = 2, kEmailChange = 3 };

// One generated event, for any source; 56 bytes. Fields a source does not have are 0.
struct Event {
  TimestampMs ts;
  uint32_t user;
  uint32_t seq;            // per-user sequence number, unique across sources
  uint64_t device;         // device token, written as dev_<16 hex>
  uint64_t aux;            // transactions: card token; withdrawals: address token;
                           // p2p_orders: counterparty user index
  double amount;           // USD, rounded to cents
  uint32_t ip;             // IPv4
  uint32_t label_delay_s;  // fraud only: seconds from ts until the label is known
  uint8_t source;
  uint8_t country;  // index into the country table
  uint8_t code;     // logins: LoginMethod; transactions: TxnStatus;
                    // p2p_orders: P2pStatus; account_events: AccountKind
  uint8_t code2;    // transactions: card country (its currency); withdrawals: asset;
                    // p2p_orders: P2pSide
  uint8_t code3;    // transactions: asset; p2p_orders: payment method
  uint8_t flag;     // logins: success; withdrawals: address_is_new;
                    // p2p_orders: counterparty_is_new
  uint8_t fraud;    // FraudType
};

static_assert(sizeof(Event) == 56, "events are held for a whole day: keep them small");

// The order of every output file: (ts, user, seq) is unique within a source.
inline bool EventLess(const Event& a, const Event& b) {
  if (a.ts != b.ts) return a.ts < b.ts;
  if (a.user != b.user) return a.user < b.user;
  return a.seq < b.seq;
}
// The order of labels.csv: (ts, event_id) where ids of different sources differ in prefix.
inline bool LabelLess(const Event& a, const Event& b) {
  if (a.ts != b.ts) return a.ts < b.ts;
  if (a.source != b.source) return a.source < b.source;
  if (a.user != b.user) return a.user < b.user;
  return a.seq < b.seq;
}

using EventBuffers = std::array<std::vector<Event>, kNumSources>;

// ---------------------------------------------------------------------------------------
// Users and the world they live in

// A user's profile (fixed) and state (changes day by day). 80 bytes.
struct User {
  uint32_t index = 0;
  uint32_t seq = 0;  // next event sequence number
  uint8_t home = 0;  // country index
  uint8_t travel_country = 0;
  uint8_t fraud = kNoFraud;  // the fraud this user is touched by (victim or perpetrator)
  uint8_t login_method = kPassword;
  uint8_t payment_method = 0;  // preferred p2p payment method
  bool api_user = false;
  bool p2p_trader = false;
  uint8_t known_cp_mask = 0;       // which of the 8 regular counterparties were traded with
  uint8_t fraud_address_mask = 0;  // which drop addresses this account already used
  int16_t travel_until = -1;       // last day of the current trip
  int16_t active_from = 0;         // first active day (fraud accounts are fresh)
  int16_t attack_day = -1;
  int16_t attack_span = 0;
  int16_t recovery_day = -1;  // ATO victim resets credentials
  uint16_t device_count = 1;  // personal devices so far, tokens of (user, 0..count-1)
  uint16_t primary_device = 0;
  int16_t secondary_device = -1;
  uint16_t card_count = 1;
  uint16_t primary_card = 0;
  uint16_t address_count = 0;  // own withdrawal addresses so far
  uint16_t fraud_device_count = 0;
  uint16_t stolen_card_count = 0;
  uint16_t fraud_address_count = 0;
  float sessions_per_day = 1;
  float p_txn = 0;
  float p_p2p = 0;
  float p_withdraw = 0;
  uint32_t home_ip = 0;
  uint32_t server_ip = 0;  // API users' bot
  double balance = 0;      // rough USD value held on the exchange
};

// ---------------------------------------------------------------------------------------
// Tables. Indexes are stored in events: order matters within one run only.

struct CountryInfo {
  const char* code;
  const char* currency;
  int utc_offset_min;
  uint8_t ip_octet;  // first octet of the country's residential address block
  double weight;     // share of the user base
};
inline constexpr CountryInfo kCountries[] = {
    {"US", "USD", -300, 73, 20}, {"CA", "CAD", -300, 99, 3},  {"MX", "MXN", -360, 187, 4},
    {"BR", "BRL", -180, 177, 8}, {"AR", "ARS", -180, 181, 3}, {"GB", "GBP", 0, 81, 8},
    {"DE", "EUR", 60, 91, 7},    {"FR", "EUR", 60, 90, 5},    {"ES", "EUR", 60, 83, 4},
    {"NL", "EUR", 60, 145, 1},   {"NG", "NGN", 60, 102, 5},   {"ZA", "ZAR", 120, 41, 2},
    {"UA", "UAH", 120, 176, 2},  {"TR", "TRY", 180, 78, 5},   {"RU", "RUB", 180, 95, 2},
    {"IN", "INR", 330, 117, 8},  {"VN", "VND", 420, 113, 4},  {"ID", "IDR", 420, 114, 4},
    {"PH", "PHP", 480, 112, 3},  {"SG", "SGD", 480, 119, 1},  {"JP", "JPY", 540, 126, 3},
    {"KR", "KRW", 540, 121, 3},  {"AU", "AUD", 600, 101, 2},
};
inline constexpr int kNumCountries = static_cast<int>(std::size(kCountries));
// Where attackers connected from before the drift (hosting in these countries).
inline constexpr const char* kAttackerCountryCodes[] = {"RU", "NG", "VN", "NL", "UA", "ID"};
// First octets of hosting-provider (datacenter) blocks.
inline constexpr uint8_t kDatacenterOctets[] = {5, 45, 104, 185, 198};

inline constexpr const char* kAssets[] = {"BTC", "ETH", "USDT", "USDC", "SOL", "XRP", "DOGE"};
inline constexpr double kAssetWeights[] = {30, 22, 25, 8, 7, 5, 3};
inline constexpr const char* kPaymentMethods[] = {"bank_transfer", "revolut", "wise",        "paypal",
                                                  "zelle",         "cash",    "mobile_money"};
inline constexpr double kPaymentMethodWeights[] = {40, 12, 10, 10, 8, 5, 15};
// Methods whose payments can be pulled back: what P2P scammers ask for.
inline constexpr uint8_t kReversiblePaymentMethods[] = {1, 3, 4};  // revolut paypal zelle

// Relative activity by local hour of day: low at night, peaks at lunch and evening.
inline constexpr double kLocalHourWeight[24] = {0.35, 0.2, 0.12, 0.08, 0.08, 0.12, 0.3,  0.6,
                                                0.9,  1.0, 1.05, 1.1,  1.2,  1.15, 1.05, 1.0,
                                                1.0,  1.1, 1.25, 1.4,  1.45, 1.3,  1.0,  0.65};

// Draws an index with probability proportional to its weight.
class WeightedChoice {
 public:
  WeightedChoice() = default;
  WeightedChoice(const double* weights, int n) : cdf_(n) {
    double total = 0;
    for (int i = 0; i < n; ++i) cdf_[i] = total += weights[i];
    for (double& c : cdf_) c /= total;
  }
  int Sample(Rng& rng) const {
    const double u = rng.Uniform();
    int lo = 0, hi = static_cast<int>(cdf_.size()) - 1;
    while (lo < hi) {
      const int mid = (lo + hi) / 2;
      if (u < cdf_[mid])
        hi = mid;
      else
        lo = mid + 1;
    }
    return lo;
  }

 private:
  std::vector<double> cdf_;
};

// The run's options and tables, read-only while users are generated.
struct World {
  World(uint64_t seed, uint32_t users, int days, int drift_day, TimestampMs start);

  // True if attacks on `day` use the tactics after the drift.
  bool PostDrift(int day) const { return drift_day >= 0 && day >= drift_day; }

  uint64_t seed;
  uint32_t users;
  int days;
  int drift_day;
  TimestampMs start;
  TimestampMs end;  // start + days
  uint32_t rings;   // fraud rings; a ring shares devices and drop addresses
  WeightedChoice countries;
  WeightedChoice assets;
  WeightedChoice payment_methods;
  std::vector<WeightedChoice> quarter_hours;  // per country: UTC quarter hour of an action
  std::vector<uint8_t> attacker_countries;
};

// Makes the profile of user `index` (its state on day 0).
User MakeUser(const World& world, uint32_t index);

// Appends the events user `u` makes on `day` (index from 0) to `out`, all with
// ts >= the day's midnight; updates u's state.
void GenerateUserDay(const World& world, User& u, int day, EventBuffers& out);

}  // namespace vigil::generate_internal
