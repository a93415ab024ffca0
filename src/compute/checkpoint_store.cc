#include "compute/checkpoint_store.h"

#include <rocksdb/db.h>

#include <filesystem>
#include <rocksdb/write_batch.h>

namespace vigil {
namespace {

std::string StateKey(const std::string& view, std::string_view key) {
  std::string k = "s/" + view + "/";
  k.append(key);
  return k;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

}  // namespace

struct CheckpointStore::Rep {
  std::string dir;
  std::unique_ptr<rocksdb::DB> db;
};

struct CheckpointStore::Batch::Rep {
  rocksdb::WriteBatch batch;
};

CheckpointStore::CheckpointStore(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
CheckpointStore::~CheckpointStore() = default;

Result<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& dir) {
  auto rep = std::make_unique<Rep>();
  rep->dir = dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);  // RocksDB creates only the last folder
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  VIGIL_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(options, dir, &db), "open stream state " + dir));
  rep->db.reset(db);
  return std::unique_ptr<CheckpointStore>(new CheckpointStore(std::move(rep)));
}

Result<std::optional<std::string>> CheckpointStore::GetMeta(const std::string& name) {
  std::string value;
  auto s = rep_->db->Get(rocksdb::ReadOptions(), "m/" + name, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  VIGIL_RETURN_IF_ERROR(FromRocks(s, "read " + name + " from " + rep_->dir));
  return std::optional<std::string>(std::move(value));
}

Status CheckpointStore::ScanStates(const std::string& view,
                                   const std::function<Status(std::string_view, std::string_view)>& fn) {
  std::string prefix = StateKey(view, "");
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    rocksdb::Slice k = it->key(), v = it->value();
    VIGIL_RETURN_IF_ERROR(fn(std::string_view(k.data() + prefix.size(), k.size() - prefix.size()),
                             std::string_view(v.data(), v.size())));
  }
  return FromRocks(it->status(), "scan stream state " + rep_->dir);
}

CheckpointStore::Batch::Batch() : rep_(std::make_unique<Rep>()) {}
CheckpointStore::Batch::~Batch() = default;

void CheckpointStore::Batch::PutState(const std::string& view, std::string_view key, std::string_view state) {
  rep_->batch.Put(StateKey(view, key), rocksdb::Slice(state.data(), state.size()));
}

void CheckpointStore::Batch::DeleteState(const std::string& view, std::string_view key) {
  rep_->batch.Delete(StateKey(view, key));
}

void CheckpointStore::Batch::PutMeta(const std::string& name, std::string_view value) {
  rep_->batch.Put("m/" + name, rocksdb::Slice(value.data(), value.size()));
}

size_t CheckpointStore::Batch::bytes() const { return rep_->batch.GetDataSize(); }

Status CheckpointStore::Commit(Batch* batch) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  VIGIL_RETURN_IF_ERROR(FromRocks(rep_->db->Write(wo, &batch->rep_->batch), "checkpoint to " + rep_->dir));
  batch->rep_->batch.Clear();
  return Status::OK();
}

}  // namespace vigil
