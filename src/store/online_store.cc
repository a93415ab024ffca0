#include "store/online_store.h"

#include <filesystem>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <functional>
#include <mutex>
#include <unordered_map>

#include "schema/row_codec.h"

namespace vigil {
namespace {

// RocksDB layout: "r" view \0 entity -> row; "p" topic -> next offset (decimal).
std::string RowKey(const std::string& view, std::string_view entity) {
  std::string k;
  k.reserve(2 + view.size() + entity.size());
  k.push_back('r');
  k.append(view);
  k.push_back('\0');
  k.append(entity);
  return k;
}
std::string PositionKey(const std::string& topic) { return "p" + topic; }

// A stored row is encoded exactly as a changelog payload (compute/changelog.h).
void EncodeRow(const ChangelogRow& row, std::string* out) { EncodeChangelogPayload(row, out); }

Status DecodeRow(std::string_view in, FeatureRow* row) {
  ChangelogRow decoded;
  VIGIL_RETURN_IF_ERROR(DecodeChangelogPayload(in, &decoded).WithContext("online row"));
  row->ts = decoded.ts;
  row->values = std::move(decoded.values);
  return Status::OK();
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

class EmbeddedOnlineStore final : public OnlineStore {
 public:
  EmbeddedOnlineStore(std::unique_ptr<rocksdb::DB> db, int shards, bool read_only, bool following)
      : db_(std::move(db)), shards_(static_cast<size_t>(shards)), read_only_(read_only), following_(following) {}

  Status Load() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek("r"); it->Valid() && it->key().starts_with("r"); it->Next()) {
      FeatureRow row;
      VIGIL_RETURN_IF_ERROR(DecodeRow(it->value().ToStringView(), &row)
                                .WithContext("online store row " + it->key().ToString(true)));
      std::string key = it->key().ToString();
      Shard& s = ShardOf(key);
      s.rows.emplace(std::move(key), std::move(row));
    }
    return FromRocks(it->status(), "online store load");
  }

  Status Apply(const std::string& view, std::span<const ChangelogRow> rows,
               std::span<const std::pair<std::string, int64_t>> positions) override {
    if (read_only_) return Status::NotSupported("online store opened read-only");
    // Writers are serialized from the newer-row check to the memory update, so two
    // concurrent Apply calls cannot reach RocksDB in the opposite order of their rows.
    std::lock_guard apply_lock(apply_mu_);
    rocksdb::WriteBatch batch;
    std::vector<std::pair<std::string, const ChangelogRow*>> accepted;
    accepted.reserve(rows.size());
    std::string value;
    {
      // Only the newest row of each entity in the batch can be the latest: changelogs
      // hold several rows per entity, so this saves most store writes.
      std::unordered_map<std::string_view, const ChangelogRow*> newest;
      newest.reserve(rows.size());
      for (const ChangelogRow& r : rows) {
        auto [it, inserted] = newest.emplace(r.entity, &r);
        if (!inserted && it->second->ts <= r.ts) it->second = &r;
      }
      // Decide against the current rows.
      for (const auto& [entity, rp] : newest) {
        const ChangelogRow& r = *rp;
        std::string key = RowKey(view, r.entity);
        Shard& s = ShardOf(key);
        std::lock_guard lock(s.mu);
        auto it = s.rows.find(key);
        if (it != s.rows.end() && it->second.ts > r.ts) continue;
        value.clear();
        EncodeRow(r, &value);
        batch.Put(key, value);
        accepted.emplace_back(std::move(key), &r);
      }
    }
    for (const auto& [topic, offset] : positions) batch.Put(PositionKey(topic), std::to_string(offset));
    VIGIL_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "online store write"));
    for (auto& [key, r] : accepted) {
      Shard& s = ShardOf(key);
      std::lock_guard lock(s.mu);
      FeatureRow& slot = s.rows[key];
      if (slot.ts <= r->ts || slot.values.empty()) slot = FeatureRow{r->ts, r->values};
    }
    return Status::OK();
  }

  Status MultiGet(const std::string& view, std::span<const std::string> keys,
                  std::span<std::optional<FeatureRow>> out) override {
    for (size_t i = 0; i < keys.size(); ++i) {
      out[i].reset();
      std::string key = RowKey(view, keys[i]);
      if (read_only_) {
        std::string value;
        auto s = db_->Get(rocksdb::ReadOptions(), key, &value);
        if (s.IsNotFound()) continue;
        VIGIL_RETURN_IF_ERROR(FromRocks(s, "online store get"));
        FeatureRow row;
        VIGIL_RETURN_IF_ERROR(DecodeRow(value, &row));
        out[i] = std::move(row);
        continue;
      }
      Shard& s = ShardOf(key);
      std::lock_guard lock(s.mu);
      auto it = s.rows.find(key);
      if (it != s.rows.end()) out[i] = it->second;
    }
    return Status::OK();
  }

  Result<int64_t> Position(const std::string& topic) override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), PositionKey(topic), &value);
    if (s.IsNotFound()) return int64_t{0};
    VIGIL_RETURN_IF_ERROR(FromRocks(s, "online store position"));
    return static_cast<int64_t>(std::stoll(value));
  }

  Status Scan(const std::string& view,
              const std::function<void(const std::string&, const FeatureRow&)>& fn) override {
    std::string prefix = RowKey(view, "");
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      FeatureRow row;
      VIGIL_RETURN_IF_ERROR(DecodeRow(it->value().ToStringView(), &row));
      fn(it->key().ToString().substr(prefix.size()), row);
    }
    return FromRocks(it->status(), "online store scan");
  }

  Status CatchUp() override {
    if (!following_) return Status::OK();
    return FromRocks(db_->TryCatchUpWithPrimary(), "catch up with the online store's writer");
  }

  std::optional<std::string> GetProperty(std::string_view name) override {
    if (name == "online.rows") {
      size_t n = 0;
      for (auto& s : shards_) {
        std::lock_guard lock(s.mu);
        n += s.rows.size();
      }
      return std::to_string(n);
    }
    return std::nullopt;
  }

 private:
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, FeatureRow> rows;
  };
  Shard& ShardOf(const std::string& key) { return shards_[std::hash<std::string>{}(key) % shards_.size()]; }

  std::unique_ptr<rocksdb::DB> db_;
  std::mutex apply_mu_;
  std::vector<Shard> shards_;
  bool read_only_;
  bool following_;
};

}  // namespace

Result<std::unique_ptr<OnlineStore>> OnlineStore::Open(const std::string& path,
                                                       const OnlineStoreOptions& options) {
  if (!options.read_only) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);  // RocksDB creates only the last folder
    if (ec) return Status::IOError("create " + path + ": " + ec.message());
  }
  rocksdb::Options opts;
  opts.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only && !options.follow_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.follow_dir, ec);
    if (ec) return Status::IOError("create " + options.follow_dir + ": " + ec.message());
    opts.create_if_missing = false;
    opts.max_open_files = -1;  // a secondary instance keeps every table file open
    s = rocksdb::DB::OpenAsSecondary(opts, path, options.follow_dir, &raw);
  } else if (options.read_only) {
    s = rocksdb::DB::OpenForReadOnly(opts, path, &raw);
  } else {
    s = rocksdb::DB::Open(opts, path, &raw);
  }
  if (!s.ok()) {
    if (options.read_only && s.IsPathNotFound()) {
      return Status::NotFound("online store " + path + " does not exist yet (run `vigil stream`)");
    }
    if (options.read_only && s.IsInvalidArgument()) {
      return Status::NotFound("online store " + path + " does not exist yet (run `vigil stream`)");
    }
    return FromRocks(s, "open online store " + path);
  }
  auto store = std::make_unique<EmbeddedOnlineStore>(std::unique_ptr<rocksdb::DB>(raw),
                                                     std::max(1, options.shards), options.read_only,
                                                     options.read_only && !options.follow_dir.empty());
  if (!options.read_only) VIGIL_RETURN_IF_ERROR(store->Load());
  return std::unique_ptr<OnlineStore>(std::move(store));
}

}  // namespace vigil
