// How users and attackers behave, one user-day at a time (see generator_internal.h).
//
// Normal users: sessions at diurnal times of their home timezone; each session is a login
// (now and then after a failed attempt) followed, with per-user probabilities, by a card
// purchase, P2P trades and a withdrawal. API users also log in around the clock from a
// server. Life happens: trips abroad (logins from another country for a few days), new
// devices, new cards, new home IPs, password resets, legitimate disputes.
//
// Fraud, about 2% of users (each attack is labelled on its transactions, withdrawals and
// p2p orders):
//   ato          victim's account. Before the drift: failed logins then a login from a ring
//                device, a datacenter IP and a foreign country; password reset / 2FA change
//                / API key / email change within minutes; a purchase with the saved card
//                now and then; withdrawal of 85-100% of the balance to a ring drop address
//                within half an hour. After: a fresh device, a residential IP in the victim's
//                country, the victim's login method and waking hours, at most an API key,
//                and the balance leaves over a day in 3-8 chunks of 8-18% to one address.
//   stolen_card  a fresh account run by a fraudster. Before: one ring device tries 4-12
//                stolen cards in minutes, half of the attempts declined or failed, then the
//                approved sum is withdrawn. After: one card per fresh device, one card per
//                session spread over a week, few declines, cash-out hours later.
//   campaign     from the drift day on, 0.2% of the other users a day are ATO victims of
//                the new tactics (kAtoCampaignRatePerDay): the ring scales up what works.
//   p2p_scam     a fresh account that trades with many new counterparties, asks for
//                reversible payment methods, and leaves disputes and cancellations behind
//                (after the drift: fewer orders a day, fewer disputes, some old contacts).
#include <algorithm>
#include <cmath>
#include <string_view>

#include "generate/generator_internal.h"

namespace vigil::generate_internal {
namespace {

// Purposes of hash streams; each keeps its own values.
enum Tag : uint64_t {
  kTagProfile = 1,
  kTagDay,
  kTagDevice,
  kTagServerDevice,
  kTagCard,
  kTagAddress,
  kTagCounterparty,
  kTagRing,
  kTagAtoRingDevice,
  kTagCardRingDevice,
  kTagRingAddress,
  kTagFraudDevice,
  kTagStolenCard,
  kTagFraudAddress,
};

// Share of users touched by each fraud over the period.
constexpr double kAtoRate = 0.008;
constexpr double kStolenCardRate = 0.005;
constexpr double kP2pScamRate = 0.005;
// From the drift day on, the ATO ring runs a campaign with its new tactics: this share of
// the (otherwise untouched) users a day has its account taken over. Attackers who find a
// blind spot scale it up; without the campaign the changed tactics would show in a
// handful of events a day, too few to measure on generated data of test size.
constexpr double kAtoCampaignRatePerDay = 0.002;

double Cents(double usd) { return std::round(usd * 100.0) / 100.0; }
double Clamp(double x, double lo, double hi) { return std::min(hi, std::max(lo, x)); }

uint32_t ResidentialIp(uint8_t country, Rng& rng) {
  return (uint32_t{kCountries[country].ip_octet} << 24) | static_cast<uint32_t>(rng.Below(1u << 24));
}
uint32_t DatacenterIp(Rng& rng) {
  return (uint32_t{kDatacenterOctets[rng.Below(std::size(kDatacenterOctets))]} << 24) |
         static_cast<uint32_t>(rng.Below(1u << 24));
}

uint8_t OtherCountry(const World& w, Rng& rng, uint8_t not_this) {
  for (;;) {
    const auto c = static_cast<uint8_t>(w.countries.Sample(rng));
    if (c != not_this) return c;
  }
}

class UserDay {
 public:
  UserDay(const World& world, User& user, int day, EventBuffers& out)
      : w_(world),
        u_(user),
        day_(day),
        day_start_(world.start + day * kDayMs),
        rng_(Hash(world.seed, kTagDay, user.index, static_cast<uint64_t>(day))),
        out_(out) {}

  void Run() {
    if (day_ >= u_.active_from) {
      LifeChanges();
      const int sessions = rng_.Poisson(u_.sessions_per_day);
      for (int i = 0; i < sessions; ++i) Session(DiurnalTime(u_.home));
      if (u_.api_user) ApiLogins();
      RareAccountEvents();
      if (day_ == u_.recovery_day) Recovery();
    }
    if (u_.attack_day < 0 || day_ < u_.attack_day) return;
    const int since = day_ - u_.attack_day;
    const bool post = w_.PostDrift(day_);
    switch (u_.fraud) {
      case kAto:
        if (since == 0) post ? AtoSlow() : AtoFast();
        break;
      case kStolenCard:
        if (!post && since < u_.attack_span) CardTestingBurst();
        if (post && since < 7 && rng_.Chance(0.6)) OneCardOneDevice();
        break;
      case kP2pScam:
        if (!post && since < u_.attack_span) P2pScamSpree(rng_.Between(1, 2), 3, 8);
        if (post && since < 6 && rng_.Chance(0.6)) P2pScamSpree(1, 1, 3);
        break;
      default:
        break;
    }
  }

 private:
  // --- tokens (pure functions of the seed: the same device/card/address everywhere)
  uint64_t PersonalDevice(int k) const { return Hash(w_.seed, kTagDevice, u_.index, k); }
  uint64_t ServerDevice() const { return Hash(w_.seed, kTagServerDevice, u_.index); }
  uint64_t Card(int k) const { return Hash(w_.seed, kTagCard, u_.index, k); }
  uint64_t OwnAddress(int k) const { return Hash(w_.seed, kTagAddress, u_.index, k); }
  uint32_t Ring() const { return Hash(w_.seed, kTagRing, u_.index) % w_.rings; }
  uint64_t FreshFraudDevice() { return Hash(w_.seed, kTagFraudDevice, u_.index, u_.fraud_device_count++); }
  uint64_t StolenCard() { return Hash(w_.seed, kTagStolenCard, u_.index, u_.stolen_card_count++); }
  uint32_t OtherUser() {
    if (w_.users == 1) return u_.index;
    const auto v = static_cast<uint32_t>(rng_.Below(w_.users - 1));
    return v >= u_.index ? v + 1 : v;
  }

  bool Traveling() const { return day_ <= u_.travel_until; }
  uint8_t Country() const { return Traveling() ? u_.travel_country : u_.home; }

  // A moment of this day, more likely in the waking hours of `country`.
  TimestampMs DiurnalTime(uint8_t country) {
    const int quarter = w_.quarter_hours[country].Sample(rng_);
    return day_start_ + int64_t{quarter} * 15 * kMinuteMs + rng_.Between(0, 15 * kMinuteMs - 1);
  }
  TimestampMs AnyTime() { return day_start_ + rng_.Between(0, kDayMs - 1); }
  int64_t Seconds(int64_t lo, int64_t hi) { return rng_.Between(lo * kSecondMs, hi * kSecondMs); }
  int64_t Minutes(int64_t lo, int64_t hi) { return rng_.Between(lo * kMinuteMs, hi * kMinuteMs); }

  // --- emitting
  Event& Emit(Source source, TimestampMs ts, uint64_t device, uint32_t ip, uint8_t country,
              uint8_t fraud = kNoFraud) {
    Event& e = out_[source].emplace_back();
    e = Event{};
    e.ts = ts;
    e.user = u_.index;
    e.seq = u_.seq++;
    e.source = source;
    e.device = device;
    e.ip = ip;
    e.country = country;
    e.fraud = fraud;
    if (fraud != kNoFraud) {
      // Chargebacks take longest; victims report takeovers and scams sooner. Every
      // report comes within the 7-day dispute window (kLabelMaturityMs).
      const double base_days = fraud == kStolenCard ? 2.0 : 0.5;
      const double days = std::min(7.0, base_days * rng_.Pareto(1.0, 1.3));
      e.label_delay_s = static_cast<uint32_t>(std::llround(days * 86400.0));
    }
    return e;
  }
  void Login(TimestampMs ts, uint64_t device, uint32_t ip, uint8_t country, bool success,
             LoginMethod method) {
    Event& e = Emit(kLogins, ts, device, ip, country);
    e.flag = success;
    e.code = method;
  }
  void Account(TimestampMs ts, uint64_t device, uint32_t ip, uint8_t country, AccountKind kind) {
    Emit(kAccountEvents, ts, device, ip, country).code = kind;
  }
  void Txn(TimestampMs ts, uint64_t device, uint32_t ip, uint8_t country, uint64_t card, uint8_t card_country,
           double amount, TxnStatus status, uint8_t fraud) {
    Event& e = Emit(kTransactions, ts, device, ip, country, fraud);
    e.aux = card;
    e.code2 = card_country;
    e.amount = amount;
    e.code = status;
    e.code3 = static_cast<uint8_t>(w_.assets.Sample(rng_));
  }
  void Withdrawal(TimestampMs ts, uint64_t device, uint32_t ip, uint8_t country, double amount,
                  uint64_t address, bool address_is_new, uint8_t fraud) {
    Event& e = Emit(kWithdrawals, ts, device, ip, country, fraud);
    e.amount = amount;
    e.aux = address;
    e.flag = address_is_new;
    e.code2 = static_cast<uint8_t>(w_.assets.Sample(rng_));
  }
  void P2pOrder(TimestampMs ts, uint64_t device, uint32_t ip, uint8_t country, uint32_t counterparty,
                bool counterparty_is_new, double amount, P2pSide side, uint8_t payment_method,
                P2pStatus status, uint8_t fraud) {
    Event& e = Emit(kP2pOrders, ts, device, ip, country, fraud);
    e.aux = counterparty;
    e.flag = counterparty_is_new;
    e.amount = amount;
    e.code2 = side;
    e.code3 = payment_method;
    e.code = status;
  }

  // --- normal life
  void LifeChanges() {
    if (!Traveling() && rng_.Chance(0.004)) {
      u_.travel_country = OtherCountry(w_, rng_, u_.home);
      u_.travel_until = static_cast<int16_t>(day_ + rng_.Between(1, 6));
    }
    if (rng_.Chance(0.004)) {  // new phone or laptop; the old one is kept half the time
      u_.secondary_device = rng_.Chance(0.5) ? static_cast<int16_t>(u_.primary_device) : -1;
      u_.primary_device = u_.device_count++;
    }
    if (rng_.Chance(0.002)) u_.primary_card = u_.card_count++;
    if (rng_.Chance(0.003)) u_.home_ip = ResidentialIp(u_.home, rng_);
    if (rng_.Chance(0.1)) u_.balance += rng_.LogNormal(300, 1.0);  // deposits from elsewhere
  }

  void Session(TimestampMs t) {
    const uint8_t country = Country();
    const int k = (u_.secondary_device >= 0 && rng_.Chance(0.2)) ? u_.secondary_device : u_.primary_device;
    const uint64_t device = PersonalDevice(k);
    uint32_t ip;
    if (Traveling())
      ip = ResidentialIp(country, rng_);
    else
      ip = rng_.Chance(0.65) ? u_.home_ip : ResidentialIp(u_.home, rng_);  // mobile
    const auto method = static_cast<LoginMethod>(u_.login_method);
    if (rng_.Chance(Traveling() ? 0.08 : 0.03)) {  // typo
      for (int i = rng_.Between(1, 2); i > 0; --i) {
        Login(t, device, ip, country, false, method);
        t += Seconds(5, 60);
      }
    }
    Login(t, device, ip, country, true, method);
    t += Seconds(10, 180);
    if (rng_.Chance(u_.p_txn)) t = Purchase(t, device, ip, country);
    if (rng_.Chance(u_.p_p2p)) t = P2pTrades(t, device, ip, country);
    if (rng_.Chance(u_.p_withdraw)) Withdraw(t, device, ip, country);
  }

  TimestampMs Purchase(TimestampMs t, uint64_t device, uint32_t ip, uint8_t country) {
    const int k = (u_.card_count > 1 && rng_.Chance(0.15)) ? static_cast<int>(rng_.Below(u_.card_count))
                                                           : u_.primary_card;
    const double r = rng_.Uniform();
    TxnStatus status = r < 0.93 ? kApproved : r < 0.98 ? kDeclined : kFailed;
    double amount = Cents(Clamp(rng_.LogNormal(120, 1.0), 10, 20000));
    Txn(t, device, ip, country, Card(k), u_.home, amount, status, kNoFraud);
    if (status != kApproved && rng_.Chance(0.5)) {  // retry, often smaller
      t += Seconds(20, 120);
      amount = Cents(Clamp(amount * rng_.Uniform(0.3, 1.0), 10, 20000));
      status = rng_.Chance(0.8) ? kApproved : kDeclined;
      Txn(t, device, ip, country, Card(k), u_.home, amount, status, kNoFraud);
    }
    if (status == kApproved) u_.balance += amount;
    return t + Seconds(20, 300);
  }

  TimestampMs P2pTrades(TimestampMs t, uint64_t device, uint32_t ip, uint8_t country) {
    const int orders = u_.p2p_trader ? static_cast<int>(rng_.Between(1, 4)) : 1;
    for (int i = 0; i < orders; ++i) {
      uint32_t cp;
      bool is_new = true;
      if (rng_.Chance(u_.p2p_trader ? 0.8 : 0.35)) {  // a regular counterparty
        const int k = static_cast<int>(rng_.Below(8));
        cp = static_cast<uint32_t>(Hash(w_.seed, kTagCounterparty, u_.index, k) % w_.users);
        if (cp == u_.index && w_.users > 1) cp = (cp + 1) % w_.users;
        is_new = !(u_.known_cp_mask & (1u << k));
        u_.known_cp_mask |= static_cast<uint8_t>(1u << k);
      } else {
        cp = OtherUser();
      }
      const auto side = rng_.Chance(0.5) ? kBuy : kSell;
      const double amount = Cents(Clamp(rng_.LogNormal(u_.p2p_trader ? 600 : 200, 0.9), 10, 1e5));
      const uint8_t pm =
          rng_.Chance(0.7) ? u_.payment_method : static_cast<uint8_t>(w_.payment_methods.Sample(rng_));
      const double r = rng_.Uniform();
      const P2pStatus status = r < 0.93 ? kCompleted : r < 0.99 ? kCancelled : kDisputed;
      P2pOrder(t, device, ip, country, cp, is_new, amount, side, pm, status, kNoFraud);
      if (status == kCompleted) u_.balance = std::max(0.0, u_.balance + (side == kBuy ? amount : -amount));
      t += Minutes(2, 20);
    }
    return t;
  }

  void Withdraw(TimestampMs t, uint64_t device, uint32_t ip, uint8_t country) {
    if (u_.balance < 30) return;
    const double share = rng_.Chance(0.06) ? rng_.Uniform(0.9, 1.0) : rng_.Uniform(0.05, 0.5);
    const double amount = Cents(std::max(10.0, u_.balance * share));
    bool is_new = false;
    uint64_t address;
    if (u_.address_count > 0 && rng_.Chance(0.88)) {
      address = OwnAddress(static_cast<int>(rng_.Below(u_.address_count)));
    } else {
      address = OwnAddress(u_.address_count++);
      is_new = true;
    }
    Withdrawal(t, device, ip, country, amount, address, is_new, kNoFraud);
    u_.balance = std::max(0.0, u_.balance - amount);
  }

  void ApiLogins() {
    const uint64_t device = ServerDevice();
    for (int i = rng_.Poisson(15); i > 0; --i) {
      Login(AnyTime(), device, u_.server_ip, u_.home, rng_.Chance(0.99), kApi);
    }
  }

  void RareAccountEvents() {
    static constexpr AccountKind kKinds[] = {kPasswordReset, kTwoFaChange, kApiKeyCreated, kEmailChange};
    const double p[] = {0.002, 0.001, u_.api_user ? 0.02 : 0.0005, 0.0005};
    for (int i = 0; i < 4; ++i) {
      if (!rng_.Chance(p[i])) continue;
      const uint64_t device = PersonalDevice(u_.primary_device);
      const uint8_t country = Country();
      const uint32_t ip = Traveling() ? ResidentialIp(country, rng_) : u_.home_ip;
      TimestampMs t = DiurnalTime(u_.home);
      Login(t, device, ip, country, true, static_cast<LoginMethod>(u_.login_method));
      t += Seconds(20, 600);
      Account(t, device, ip, country, kKinds[i]);
    }
  }

  // The ATO victim takes the account back from its own device.
  void Recovery() {
    const uint64_t device = PersonalDevice(u_.primary_device);
    TimestampMs t = DiurnalTime(u_.home);
    Account(t, device, u_.home_ip, u_.home, kPasswordReset);
    t += Minutes(1, 10);
    Login(t, device, u_.home_ip, u_.home, true, static_cast<LoginMethod>(u_.login_method));
    t += Minutes(1, 10);
    Account(t, device, u_.home_ip, u_.home, kTwoFaChange);
  }

  // --- fraud
  void AtoFast() {
    const uint32_t ring = Ring();
    const uint64_t device = Hash(w_.seed, kTagAtoRingDevice, ring, rng_.Below(2));
    const uint8_t country = [&] {
      for (;;) {
        const uint8_t c = w_.attacker_countries[rng_.Below(w_.attacker_countries.size())];
        if (c != u_.home) return c;
      }
    }();
    const uint32_t ip = DatacenterIp(rng_);
    TimestampMs t = AnyTime();
    if (rng_.Chance(0.6)) {  // credential stuffing
      for (int i = rng_.Between(1, 6); i > 0; --i) {
        Login(t, device, ip, country, false, kPassword);
        t += Seconds(3, 40);
      }
    }
    Login(t, device, ip, country, true, kPassword);
    t += Seconds(30, 240);
    bool changed = false;
    const std::pair<AccountKind, double> changes[] = {
        {kPasswordReset, 0.85}, {kTwoFaChange, 0.75}, {kEmailChange, 0.35}, {kApiKeyCreated, 0.5}};
    for (auto [kind, p] : changes) {
      if (!rng_.Chance(p) && (changed || kind != kApiKeyCreated)) continue;
      Account(t, device, ip, country, kind);
      changed = true;
      t += Seconds(15, 180);
    }
    if (rng_.Chance(0.35)) {  // top up with the saved card first
      const uint64_t card = Card(u_.primary_card);
      for (int i = rng_.Between(1, 3); i > 0; --i) {
        const double amount = Cents(Clamp(rng_.LogNormal(700, 0.5), 50, 10000));
        const TxnStatus status = rng_.Chance(0.8) ? kApproved : kDeclined;
        Txn(t, device, ip, country, card, u_.home, amount, status, kAto);
        if (status == kApproved) u_.balance += amount;
        t += Seconds(20, 120);
      }
    }
    t += Minutes(2, 25);
    const int chunks = rng_.Chance(0.3) ? 2 : 1;
    const double total = u_.balance * rng_.Uniform(0.85, 1.0);
    const uint64_t first_drop = rng_.Below(4);
    for (int i = 0; i < chunks; ++i) {
      const uint64_t address = Hash(w_.seed, kTagRingAddress, ring, (first_drop + i) % 4);
      const double amount = Cents(std::max(1.0, total / chunks));
      Withdrawal(t, device, ip, country, amount, address, true, kAto);
      u_.balance = std::max(0.0, u_.balance - amount);
      t += Seconds(30, 300);
    }
  }

  void AtoSlow() {
    const uint64_t device = FreshFraudDevice();
    const uint8_t country = u_.home;
    const auto method = static_cast<LoginMethod>(u_.login_method);
    uint32_t ip = ResidentialIp(country, rng_);
    TimestampMs t = DiurnalTime(u_.home);
    if (rng_.Chance(0.1)) {
      Login(t, device, ip, country, false, method);
      t += Seconds(10, 60);
    }
    Login(t, device, ip, country, true, method);
    if (rng_.Chance(0.25)) Account(t + Minutes(10, 120), device, ip, country, kApiKeyCreated);
    const uint64_t address = Hash(w_.seed, kTagFraudAddress, u_.index, u_.fraud_address_count++);
    const double base = u_.balance;
    t += Minutes(60, 300);
    for (int i = 0, chunks = rng_.Between(3, 8); i < chunks; ++i) {
      if (i > 0) t += Minutes(40, 240);
      if (rng_.Chance(0.5)) ip = ResidentialIp(country, rng_);
      Login(t, device, ip, country, true, method);
      t += Seconds(30, 600);
      const double amount = Cents(std::max(1.0, std::min(u_.balance, base * rng_.Uniform(0.08, 0.18))));
      Withdrawal(t, device, ip, country, amount, address, i == 0, kAto);
      u_.balance = std::max(0.0, u_.balance - amount);
    }
  }

  // Cash-out of card-bought crypto to `address`, the k-th (0..7) drop address
  // this account knows.
  void CashOut(TimestampMs t, uint64_t device, uint32_t ip, uint8_t country, double amount, uint64_t address,
               int k) {
    const bool is_new = !(u_.fraud_address_mask & (1u << k));
    u_.fraud_address_mask |= static_cast<uint8_t>(1u << k);
    Withdrawal(t, device, ip, country, Cents(amount), address, is_new, kStolenCard);
  }

  void CardTestingBurst() {
    const uint32_t ring = Ring();
    const uint64_t device = Hash(w_.seed, kTagCardRingDevice, ring, rng_.Below(2));
    const uint8_t country = u_.home;
    const uint32_t ip = rng_.Chance(0.5) ? DatacenterIp(rng_) : ResidentialIp(country, rng_);
    TimestampMs t = AnyTime();
    Login(t, device, ip, country, true, kPassword);
    t += Seconds(30, 180);
    double approved = 0;
    for (int c = rng_.Between(4, 12); c > 0; --c) {
      const uint64_t card = StolenCard();
      const auto card_country = static_cast<uint8_t>(w_.countries.Sample(rng_));
      for (int a = rng_.Between(1, 3); a > 0; --a) {
        const double r = rng_.Uniform();
        const TxnStatus status = r < 0.45 ? kDeclined : r < 0.65 ? kFailed : kApproved;
        const double amount = Cents(Clamp(rng_.LogNormal(250, 0.6), 20, 3000));
        Txn(t, device, ip, country, card, card_country, amount, status, kStolenCard);
        t += Seconds(8, 75);
        if (status == kApproved) {
          approved += amount;
          if (!rng_.Chance(0.4)) break;
        }
      }
    }
    if (approved <= 0) return;
    t += Minutes(3, 30);
    const int k = static_cast<int>(rng_.Below(3));
    CashOut(t, device, ip, country, approved * rng_.Uniform(0.9, 1.0),
            Hash(w_.seed, kTagRingAddress, ring, 8 + k), k);
  }

  void OneCardOneDevice() {
    const uint64_t device = FreshFraudDevice();
    const uint8_t country = u_.home;
    const uint32_t ip = ResidentialIp(country, rng_);
    TimestampMs t = DiurnalTime(u_.home);
    Login(t, device, ip, country, true, kPassword);
    t += Minutes(1, 8);
    const uint64_t card = StolenCard();  // bought to match the fraudster's country
    double amount = Cents(Clamp(rng_.LogNormal(150, 0.5), 20, 1500));
    TxnStatus status = rng_.Chance(0.88) ? kApproved : kDeclined;
    Txn(t, device, ip, country, card, country, amount, status, kStolenCard);
    if (status != kApproved && rng_.Chance(0.5)) {
      t += Minutes(1, 10);
      amount = Cents(amount * rng_.Uniform(0.4, 0.9));
      status = rng_.Chance(0.7) ? kApproved : kDeclined;
      Txn(t, device, ip, country, card, country, amount, status, kStolenCard);
    }
    if (status != kApproved) return;
    t += Minutes(120, 600);
    Login(t, device, ip, country, true, kPassword);
    t += Minutes(1, 5);
    CashOut(t, device, ip, country, amount * rng_.Uniform(0.85, 1.0),
            Hash(w_.seed, kTagFraudAddress, u_.index, 0), 3);
  }

  void P2pScamSpree(int sessions, int min_orders, int max_orders) {
    const bool post = w_.PostDrift(day_);
    const uint64_t device = PersonalDevice(u_.primary_device);
    const uint8_t country = u_.home;
    for (int s = 0; s < sessions; ++s) {
      const uint32_t ip = ResidentialIp(country, rng_);
      TimestampMs t = DiurnalTime(u_.home);
      Login(t, device, ip, country, true, static_cast<LoginMethod>(u_.login_method));
      t += Seconds(30, 300);
      for (int i = rng_.Between(min_orders, max_orders); i > 0; --i) {
        uint32_t cp = OtherUser();
        bool is_new = true;
        if (post && rng_.Chance(0.15)) {  // an account groomed earlier
          const int k = static_cast<int>(rng_.Below(8));
          cp = static_cast<uint32_t>(Hash(w_.seed, kTagCounterparty, u_.index, k) % w_.users);
          is_new = !(u_.known_cp_mask & (1u << k));
          u_.known_cp_mask |= static_cast<uint8_t>(1u << k);
        }
        const auto side = rng_.Chance(0.75) ? kSell : kBuy;
        const uint8_t pm = rng_.Chance(post ? 0.5 : 0.8)
                               ? kReversiblePaymentMethods[rng_.Below(std::size(kReversiblePaymentMethods))]
                               : static_cast<uint8_t>(w_.payment_methods.Sample(rng_));
        const double amount = Cents(Clamp(rng_.LogNormal(450, 0.6), 20, 20000));
        const double r = rng_.Uniform();
        const P2pStatus status = post ? (r < 0.2   ? kDisputed
                                         : r < 0.4 ? kCancelled
                                                   : kCompleted)
                                      : (r < 0.35  ? kDisputed
                                         : r < 0.7 ? kCancelled
                                                   : kCompleted);
        P2pOrder(t, device, ip, country, cp, is_new, amount, side, pm, status, kP2pScam);
        t += Minutes(2, 20);
      }
    }
  }

  const World& w_;
  User& u_;
  const int day_;
  const TimestampMs day_start_;
  Rng rng_;
  EventBuffers& out_;
};

}  // namespace

World::World(uint64_t seed_in, uint32_t users_in, int days_in, int drift_day_in, TimestampMs start_in)
    : seed(seed_in),
      users(users_in),
      days(days_in),
      drift_day(drift_day_in),
      start(start_in),
      end(start_in + days_in * kDayMs),
      rings(std::max<uint32_t>(1, users_in / 2000)),
      assets(kAssetWeights, static_cast<int>(std::size(kAssetWeights))),
      payment_methods(kPaymentMethodWeights, static_cast<int>(std::size(kPaymentMethodWeights))) {
  double weights[kNumCountries];
  for (int c = 0; c < kNumCountries; ++c) weights[c] = kCountries[c].weight;
  countries = WeightedChoice(weights, kNumCountries);
  for (int c = 0; c < kNumCountries; ++c) {
    double q[96];
    for (int i = 0; i < 96; ++i) {
      const int local_minute = ((i * 15 + kCountries[c].utc_offset_min) % 1440 + 1440) % 1440;
      q[i] = kLocalHourWeight[local_minute / 60];
    }
    quarter_hours.emplace_back(q, 96);
  }
  for (const char* code : kAttackerCountryCodes) {
    for (int c = 0; c < kNumCountries; ++c) {
      if (std::string_view(kCountries[c].code) == code) {
        attacker_countries.push_back(static_cast<uint8_t>(c));
      }
    }
  }
}

User MakeUser(const World& w, uint32_t index) {
  Rng rng(Hash(w.seed, kTagProfile, index));
  User u;
  u.index = index;
  u.home = static_cast<uint8_t>(w.countries.Sample(rng));
  u.login_method = rng.Chance(0.2) ? kSso : kPassword;
  u.payment_method = static_cast<uint8_t>(w.payment_methods.Sample(rng));
  u.api_user = rng.Chance(0.04);
  u.p2p_trader = rng.Chance(0.08);
  u.sessions_per_day = static_cast<float>(Clamp(rng.LogNormal(1.6, 0.7), 0.1, 30));
  u.p_txn = static_cast<float>(Clamp(rng.LogNormal(0.1, 0.6), 0, 0.8));
  u.p_p2p = u.p2p_trader ? static_cast<float>(rng.Uniform(0.3, 0.7)) : 0.015f;
  u.p_withdraw = static_cast<float>(Clamp(rng.LogNormal(0.04, 0.5), 0, 0.5));
  u.balance = Cents(rng.LogNormal(800, 1.4));
  u.card_count = rng.Chance(0.25) ? 2 : 1;
  u.device_count = rng.Chance(0.35) ? 2 : 1;
  u.secondary_device = u.device_count == 2 ? 1 : -1;
  u.address_count = static_cast<uint16_t>(rng.Between(0, 2));
  u.home_ip = ResidentialIp(u.home, rng);
  u.server_ip = DatacenterIp(rng);

  const double f = rng.Uniform();
  constexpr double kFraudRate = kAtoRate + kStolenCardRate + kP2pScamRate;
  if (f >= kFraudRate) {
    // A campaign victim (see kAtoCampaignRatePerDay): its days before the attack are
    // exactly those of the same user without a drift.
    const int campaign_days = w.drift_day >= 0 && w.drift_day < w.days ? w.days - w.drift_day : 0;
    const double g = (f - kFraudRate) / (1 - kFraudRate);  // uniform in [0, 1)
    if (g < kAtoCampaignRatePerDay * campaign_days) {
      u.fraud = kAto;
      u.attack_day = static_cast<int16_t>(w.drift_day + static_cast<int>(g / kAtoCampaignRatePerDay));
      u.recovery_day = static_cast<int16_t>(u.attack_day + rng.Between(1, 3));
    }
    return u;
  }
  u.attack_day = static_cast<int16_t>(rng.Below(w.days));
  if (f < kAtoRate) {
    u.fraud = kAto;  // a normal user with something worth stealing
    u.balance = std::max(u.balance, Cents(rng.LogNormal(1500, 0.8)));
    u.recovery_day = static_cast<int16_t>(u.attack_day + rng.Between(1, 3));
    return u;
  }
  // A fraudster's account: opened shortly before use, little legitimate-looking activity.
  u.fraud = f < kAtoRate + kStolenCardRate ? kStolenCard : kP2pScam;
  u.active_from = static_cast<int16_t>(std::max<int64_t>(0, u.attack_day - rng.Between(0, 3)));
  u.attack_span = static_cast<int16_t>(rng.Between(1, u.fraud == kStolenCard ? 2 : 3));
  u.api_user = false;
  u.p2p_trader = false;
  u.sessions_per_day = 0.8f;
  u.p_txn = 0.05f;
  u.p_p2p = u.fraud == kP2pScam ? 0.1f : 0.015f;
  u.p_withdraw = 0.05f;
  u.balance = 0;
  return u;
}

void GenerateUserDay(const World& world, User& u, int day, EventBuffers& out) {
  UserDay(world, u, day, out).Run();
}

}  // namespace vigil::generate_internal
