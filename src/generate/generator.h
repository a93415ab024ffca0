// Deterministic synthetic events for the fraud domain of a crypto exchange
// (`vigil generate`, DESIGN.md §7; the definitions that read them are examples/fraud/).
//
// Generate() writes into opts.out_dir, replacing files of the same names:
//
//   logins.jsonl          event_id user_id device_id ip country success(bool) method
//   transactions.jsonl    txn_id user_id card_id device_id amount currency status ip country asset
//   withdrawals.jsonl     withdrawal_id user_id device_id amount asset address address_is_new(bool)
//                         country
//   p2p_orders.jsonl      order_id user_id counterparty_id device_id amount side payment_method
//                         status counterparty_is_new(bool)
//   account_events.jsonl  event_id user_id device_id kind ip country
//   labels.csv            event_id,source,user_id,device_id,card_id,ts,is_fraud,fraud_type,known_at,
//                         amount
//
// Every JSONL line is one object with an integer "ts" (ms since the epoch, UTC); every other
// field is a string, a bool, or (amount) a double in USD rounded to cents, printed in
// shortest round-trip form with at least one decimal ("100.0", "12.5"). No field is null.
// Each file is sorted by (ts, id); ids are unique across all files and, within one run,
// fixed-width, so that string order equals (user, sequence) order:
//   "lgn_000042-0000007" = the 8th event generated for user u000042, a login.
// Id prefixes: acc_ (account_events) lgn_ (logins) p2p_ (p2p_orders) txn_ (transactions)
// wdr_ (withdrawals).
//
// labels.csv has one row per transaction, withdrawal and p2p order, sorted by (ts, event_id);
// card_id is empty except for transactions. fraud_type is none, ato, stolen_card or
// p2p_scam. known_at (ms) is when the label becomes known: ts + 12 h..7 days (heavy-tailed)
// for fraud, ts + 7 days (the end of the dispute window) for everything else; it may lie
// beyond the generated period. amount is the labelled event's amount (USD), the request
// context a scoring call sees.
//
// What is in the data (examples/fraud/README.md has the longer story): users with a home
// country and timezone, diurnal activity, heavy-tailed amounts, travel, device changes;
// about 2% of users are touched by fraud: account takeover victims, stolen-card accounts
// and P2P scammers. From opts.drift_day on, attackers change tactics so that the signals
// that separated them before (new country, many cards per device, failures, fast cash-out)
// fade; a model trained on earlier days loses accuracy.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "common/time.h"

namespace vigil {

// 2026-01-05T00:00:00Z, a Monday.
inline constexpr TimestampMs kDefaultGenerateStart = 1767571200000;

struct GenerateOptions {
  // Number of users, u000000 .. u<users-1>. Default: 1000. 1 <= users <= 100'000'000.
  int64_t users = 1000;
  // Length of the period in days; events have start <= ts < start + days. Default: 7.
  // 1 <= days <= 3660.
  int days = 7;
  // The same seed (and the same other options) gives byte-identical files. Default: 1.
  uint64_t seed = 1;
  // -1: no drift. Otherwise attacks that start on day index >= drift_day (0-based) use the
  // later tactics. A drift_day >= days has no effect. Default: -1.
  int drift_day = -1;
  // Created if missing. REQUIRED (not empty).
  std::string out_dir;
  // Midnight UTC of the first day. Default: kDefaultGenerateStart. REQUIRES: >= 0.
  TimestampMs start = kDefaultGenerateStart;
  // Worker threads; 0 = hardware concurrency. The output does not depend on it. Default: 0.
  int threads = 0;
};

struct GenerateStats {
  // Keyed by source name: "account_events", "logins", "p2p_orders", "transactions",
  // "withdrawals".
  std::map<std::string, int64_t> events_per_source;
  int64_t labels = 0;        // rows of labels.csv
  int64_t fraud_labels = 0;  // of which is_fraud = 1
  double seconds = 0;        // wall-clock time of the call
};

// Writes the files described above. Invalid options are InvalidArgument; a directory or
// file that cannot be created or written is IOError naming the path (files already written
// are left as they are). Memory grows with users (80 bytes each) and with one day of events
// (56 bytes each), not with days. Safe to call from several threads with different out_dir.
Result<GenerateStats> Generate(const GenerateOptions& opts);

}  // namespace vigil
