// The changelog of one entity of one feature view (DESIGN.md §4), computed event by
// event. Stream compute (ViewEngine) and batch replay both drive this one class, so
// online and offline values agree by construction.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"
#include "compute/changelog.h"
#include "schema/value.h"
#include "spec/definitions.h"

namespace vigil {

namespace compute_internal {
class FeatureState;
}

// A feature view compiled for the engine: feature definitions plus how to turn an
// event into per-feature inputs. Immutable, shared by every entity of the view.
class ViewPlan {
 public:
  explicit ViewPlan(const FeatureViewDef& view);
  const FeatureViewDef& view() const { return *view_; }
  size_t num_features() const { return view_->features.size(); }
  // Fills inputs[i] with what feature i takes from `ev`: null when the event does not
  // contribute (where false or null, or a null field), else the field value (or true
  // for count without field).
  void Extract(const Event& ev, Row* inputs) const;
  // The same into inputs[0..num_features()), assigning over the values there, so that
  // their strings' buffers are reused.
  void Extract(const Event& ev, Value* inputs) const;
  // The tuple of an entity with no state.
  const Row& empty_tuple() const { return empty_; }

  // What a pending event keeps: the distinct fields the features read, once each, and
  // one bit per distinct where (true when it matched), rather than a value per feature
  // (features often share a field or a filter). Extract's inputs follow from it.
  size_t num_input_fields() const { return input_fields_.size(); }
  // Words of where bits an event keeps beyond the first 64 (0 for up to 64 wheres).
  size_t extra_where_words() const { return wheres_.size() > 64 ? (wheres_.size() - 1) / 64 : 0; }

 private:
  friend class EntityWindow;
  // The packed form of an event's inputs: fields[j] = ev.fields[input_fields_[j]], and
  // bit w of *pass (w < 64) or of more[w / 64 - 1] set when where w matched.
  void Pack(const Event& ev, Value* fields, uint64_t* pass, uint64_t* more) const;
  // Sets where w's bit in the packed form.
  static void SetWhereBit(size_t w, uint64_t* pass, uint64_t* more) {
    (w < 64 ? *pass : more[w / 64 - 1]) |= uint64_t{1} << (w % 64);
  }
  // Feature i's input from the packed form, as Extract gives it; nullptr for null.
  const Value* Input(size_t i, const Value* fields, uint64_t pass, const uint64_t* more) const {
    if (const int w = where_slot_[i]; w >= 0) {
      const uint64_t word = w < 64 ? pass : more[w / 64 - 1];
      if (!(word >> (w % 64) & 1)) return nullptr;
    }
    const int f = input_of_[i];
    const Value* v = f < 0 ? &true_ : &fields[f];
    return v->is_null() ? nullptr : v;
  }

  const FeatureViewDef* view_;
  Row empty_;
  std::string shape_;  // the plan's shape as EntityWindow::Save writes it
  // Features sharing a `where` text share one evaluation: where_slot_[i] indexes wheres_.
  std::vector<const Expr*> wheres_;
  std::vector<int> where_slot_;
  // The event fields the features read, each once: feature i reads input_fields_[input_of_[i]]
  // (input_of_[i] is -1 for count without field, whose input is true_).
  std::vector<int> input_fields_;
  std::vector<int> input_of_;
  Value true_ = Value::Bool(true);
  // An entity window's block: the n state pointers, then at expiry_offset_ the n expiry
  // instants, then each state at state_offset_[i]; block_size_ bytes in all.
  size_t expiry_offset_ = 0;
  std::vector<size_t> state_offset_;
  size_t block_size_ = 0;
};

// Per-entity engine state. Not thread-safe; one owner at a time.
//
// Instants: an event enters at its ts; it leaves feature f's window at ts + window_f;
// the entity expires at L + ttl (L = its last event). At each instant the engine applies
// leaves first, then expiry, then arrivals, and emits a row if the tuple changed.
//   count over 1h, ttl 1h, events at 10:00 and 10:30:
//   rows: 10:00 -> 1, 10:30 -> 2, 11:00 -> 1, 11:30 -> 0 (window empty and ttl expiry)
class EntityWindow {
 public:
  EntityWindow(const ViewPlan* plan, std::string key);
  ~EntityWindow();
  EntityWindow(EntityWindow&&) noexcept;

  const std::string& key() const { return row_.entity; }
  // Queues an accepted event, given its per-feature inputs as ViewPlan::Extract fills
  // them. REQUIRES: ts >= every bound passed to AdvanceTo so far; `seq` increases in log
  // order (ties of equal ts keep log order); the inputs could come from one event (the
  // features on one field take its one value; count without field takes any non-null).
  void Add(TimestampMs ts, uint64_t seq, const Row& inputs);
  // The same for an event of the view's source: its inputs are extracted (plan's
  // Extract) straight into the window's queue, without a Row of their own.
  void AddEvent(const Event& ev, uint64_t seq);
  // The next instant at which the tuple may change, or kMaxTimestamp. O(1): kept
  // up to date by Add and by each processed instant.
  TimestampMs NextInstant() const { return next_; }
  // Processes every instant < bound, calling visit for each row where the tuple
  // changed. The row is the window's own: valid only during the call, never copied.
  void EmitUntil(TimestampMs bound, const std::function<void(const ChangelogRow&)>& visit);
  // The same, handing each row over as a copy the caller keeps.
  void AdvanceTo(TimestampMs bound, const std::function<void(ChangelogRow&&)>& emit);
  // Asks the CPU to fetch what EmitUntil(bound) reads first (a hint: no effect on
  // results). Stage 0 fetches the window's arrays; stage 1, once they have arrived,
  // what they point to: the due features' states; stage 2, once those have, the front
  // of each due feature's queue.
  void Prefetch(TimestampMs bound, int stage) const;
  // The same for AddEvent: stage 0 fetches the window itself (its key, its queue's
  // bounds); stage 1, once it has arrived, where the next event's inputs go.
  void PrefetchForAdd(int stage) const;
  // True when the entity holds no state and nothing is pending: it may be dropped.
  bool Idle() const;

  // Checkpoints. The stream worker keeps each entity's window in RocksDB and saves it
  // with its input offsets; after a crash it restores every entity and goes on, and the
  // rows it then emits are exactly those of a run that never stopped.
  //
  // Appends the encoding of the entity's whole state (format below) to *out: its pending
  // events and every feature's window, so that the restored window emits the same rows,
  // bit for bit, as this one would, given the same Add and AdvanceTo calls. The key is
  // not part of it (the caller stores the bytes under it). Equal states give equal bytes.
  void Save(std::string* out) const;
  // A window rebuilt from bytes that Save wrote for an entity of a view with the same
  // shape as plan's: the same number of features and, feature by feature, the same
  // aggregation, field type and window, which is what decoding depends on. Feature and
  // field names, where filters and the ttl are not part of the shape: state saved before
  // such a change restores and runs, but holds what the old definitions computed, so
  // whoever changes definitions decides whether to rebuild. Errors, each naming the
  // entity and the view:
  // InvalidArgument if the bytes were saved under a different shape (the message says
  // which feature differs and how: the view's state must then be rebuilt, e.g. by a
  // backfill); NotSupported if they carry a format version this build does not read;
  // Corruption if they are truncated or malformed. Safe on arbitrary bytes: it never
  // reads outside them nor allocates much more than their size, and bytes that decode
  // give a window that runs without crashing, whoever wrote them.
  static Result<EntityWindow> Restore(const ViewPlan* plan, std::string key, std::string_view bytes);

  // The checkpoint format is persisted: bytes written by one vigil must restore in any
  // later one. To change the encoding, bump kStateFormatVersion and keep decoding the old
  // versions (or, if that is not possible, reject them with NotSupported, which tells the
  // operator to rebuild state); never change the meaning of a version already released.
  // A new aggregation gets a new agg code and its own feature record, within version 1.
  //
  // Version 1. varint = LevelDB base-128 varint, zigzag = varint of the zigzag form,
  // double = 8 bytes IEEE-754 little-endian, value = row_codec's tagged value.
  //
  //   u8      version (1)
  //   shape:  varint number of features, then per feature one byte
  //             agg code (bits 0-3) | field type (bits 4-6, value.h) | 0x80 if windowed
  //           with agg codes count 0, sum 1, avg 2, min 3, max 4, stddev 5,
  //           count_distinct 6, last 7, first 8 (fixed here, not AggKind's values)
  //           and, windowed, varint (count << 3 | unit) with unit 0..4 = ms s m h d, the
  //           largest that divides the window (1h -> 0x0b), or unit 7 followed by a
  //           varint of the window in ms when the count does not fit.
  //   u8      1 if alive (an event arrived since creation or the last ttl expiry), else 0
  //   zigzag  last event's ts (L; kMinTimestamp before any event)
  //   zigzag  ts of the last emitted row - L
  //   varint  number of pending events, then each: its ts (the first as zigzag from L,
  //           then varint from the previous one: they are sorted), its seq (the first as
  //           varint, then zigzag of the wrapping difference from the previous one), and
  //           one value per feature (the extracted inputs, nulls included; they must
  //           agree as inputs of one event do, or Restore refuses them as Corruption).
  //   then one record per feature, in plan order, with timestamps relative to L. A
  //   queue's timestamps are written oldest first: the first as zigzag from L, each next
  //   one as varint from the previous. Values whose type the plan fixes (the feature's
  //   field type) carry no tag. window_agg.cc documents each record beside its class:
  //     count            the queue's timestamps
  //     sum avg stddev   the two-stacks queue as it is, both stacks, suffix aggregates
  //                      included (Combine is not associative: rebuilding them by
  //                      pushing the values again would change the doubles' last bits)
  //     min max first    the monotonic deque / the queue of (ts, value)
  //     count_distinct   the distinct keys in order of first appearance, then the queue
  //                      of (ts, key number)
  //     last             the single (ts, value) slot
  //     lifetime         the running aggregate (count; sum; n, mean, m2; the value; or
  //                      the sorted set of distinct keys)
  //
  // Not saved, because Restore recomputes them exactly: the expiry cache (each entry is
  // always its feature's NextExpiry(): ProcessInstant refreshes every feature it touches
  // and an untouched feature's state did not change), the last emitted tuple (always
  // each feature's Current(), for the same reason, and the plan's empty tuple before any
  // row), NextInstant() (always the minimum of the first pending ts, the expiries and
  // the ttl instant), and events already processed.
  static constexpr uint8_t kStateFormatVersion = 1;

 private:
  struct Pending {
    TimestampMs ts;
    uint64_t seq;
    uint64_t pass;  // bit w: the view's where w matched (w < 64; the rest in more_pass_)
  };
  // Spare inputs kept after the queue empties, in events.
  static constexpr size_t kSparePending = 16;
  // Queues a pending event at its place in (ts, seq) order, its where bits cleared, and
  // returns that place.
  size_t NewPending(TimestampMs ts, uint64_t seq);
  // pending_[k]'s fields (plan's num_input_fields()) and where bits beyond the first 64.
  Value* InputsOf(size_t k) { return inputs_.data() + k * plan_->num_input_fields(); }
  const Value* InputsOf(size_t k) const { return inputs_.data() + k * plan_->num_input_fields(); }
  uint64_t* MorePassOf(size_t k) { return more_pass_.data() + k * plan_->extra_where_words(); }
  const uint64_t* MorePassOf(size_t k) const { return more_pass_.data() + k * plan_->extra_where_words(); }
  // What feature i takes from pending_[k], as ViewPlan::Extract gives it; null if nothing.
  const Value* InputOf(size_t k, size_t i) const {
    return plan_->Input(i, InputsOf(k), pending_[k].pass, MorePassOf(k));
  }
  // Fills pending_[k] from per-feature inputs (Extract's form). Corruption if they
  // cannot come from one event (two values for one field, a filter both true and false).
  Status PackInputs(size_t k, const Value* per_feature);
  // The block's parts (ViewPlan::block_size_ describes its layout).
  compute_internal::FeatureState* const* states() const {
    return reinterpret_cast<compute_internal::FeatureState* const*>(block_.get());
  }
  TimestampMs* expiry() { return reinterpret_cast<TimestampMs*>(block_.get() + plan_->expiry_offset_); }
  const TimestampMs* expiry() const {
    return reinterpret_cast<const TimestampMs*>(block_.get() + plan_->expiry_offset_);
  }
  // Destroys the states in a block, then frees it.
  struct BlockDeleter {
    const ViewPlan* plan;
    void operator()(std::byte* block) const;
  };
  void ProcessInstant(TimestampMs t, const std::function<void(const ChangelogRow&)>& visit);
  TimestampMs ComputeNextInstant() const;
  // Decodes Save's bytes into this fresh window; Restore adds the entity to the message.
  Status Load(std::string_view* in);

  const ViewPlan* plan_;
  std::vector<Pending> pending_;  // sorted by (ts, seq); consumed from pending_head_
  size_t pending_head_ = 0;
  // pending_[k]'s fields are InputsOf(k). Values past pending_.size() events are spare:
  // kept, so that the next events' strings reuse their buffers instead of allocating.
  std::vector<Value> inputs_;
  std::vector<uint64_t> more_pass_;  // only for views with more than 64 distinct wheres
  // The features' states and what an instant reads of them first, in one allocation:
  // states()[i] points to feature i's state, which lives further in the block, and
  // expiry()[i] is states()[i]->NextExpiry(), kept so that finding the next instant and
  // the features due at it reads one array instead of every state.
  std::unique_ptr<std::byte, BlockDeleter> block_;
  bool alive_ = false;  // an event arrived since creation or the last expiry
  TimestampMs last_event_ = kMinTimestamp;
  ChangelogRow row_;                  // the entity's key and the last emitted tuple
  TimestampMs next_ = kMaxTimestamp;  // cached NextInstant()
};

}  // namespace vigil
