#include "store/archive.h"

#include <filesystem>

#include "compute/stream_worker.h"

namespace vigil {

Result<std::unique_ptr<Log>> OpenArchive(const std::string& offline_dir) {
  LogOptions o;
  o.kind = LogOptions::Kind::kEmbedded;
  o.dir = (std::filesystem::path(offline_dir) / "archive").string();
  o.retention_ms = kMaxTimestamp;  // kept forever
  o.retention_bytes = -1;
  o.fsync = FsyncPolicy::kNever;  // ArchiveUntilCaughtUp syncs before committing
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return Status::IOError("create " + o.dir + ": " + ec.message());
  return Log::Open(o);
}

namespace {

Status ArchiveTopic(const std::string& topic, Log* live, Log* archive, ArchiveStats* stats) {
  VIGIL_ASSIGN_OR_RETURN(int parts, live->Partitions(topic));
  VIGIL_RETURN_IF_ERROR(archive->CreateTopic(topic, parts));
  VIGIL_ASSIGN_OR_RETURN(auto archived, archive->EndOffsets(topic));
  VIGIL_ASSIGN_OR_RETURN(auto starts, live->StartOffsets(topic));
  VIGIL_ASSIGN_OR_RETURN(auto ends, live->EndOffsets(topic));
  VIGIL_ASSIGN_OR_RETURN(auto reader, live->OpenReader(topic));
  bool behind = false;
  for (int p = 0; p < parts; ++p) {
    if (archived[p] < starts[p]) {
      return Status::Corruption("archive of " + topic + ":" + std::to_string(p) + " ends at offset " +
                                std::to_string(archived[p]) + " but the live log starts at " +
                                std::to_string(starts[p]) + ": offsets " + std::to_string(archived[p]) + ".." +
                                std::to_string(starts[p] - 1) + " were deleted before they were archived");
    }
    VIGIL_RETURN_IF_ERROR(reader->Seek(p, archived[p]));
    behind |= archived[p] < ends[p];
  }
  if (behind) {
    VIGIL_ASSIGN_OR_RETURN(auto writer, archive->OpenWriter(topic));
    LogRecord rec;
    for (;;) {
      VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
      if (!more) break;
      VIGIL_RETURN_IF_ERROR(writer->AppendTo(rec.partition, rec.key, rec.payload, rec.append_time));
      ++stats->records;
      stats->bytes += static_cast<int64_t>(rec.payload.size());
    }
    VIGIL_RETURN_IF_ERROR(writer->Flush(true));
    VIGIL_ASSIGN_OR_RETURN(archived, archive->EndOffsets(topic));
  }
  return live->Commit(kArchiveGroup, topic, archived);
}

}  // namespace

Result<ArchiveStats> ArchiveUntilCaughtUp(const Definitions& defs, Log* live, Log* archive) {
  ArchiveStats stats;
  for (const auto& [name, source] : defs.sources) {
    for (const std::string& topic : {name, DeadLetterTopic(name)}) {
      auto parts = live->Partitions(topic);
      if (!parts.ok() && parts.status().IsNotFound()) continue;  // nothing ingested yet
      VIGIL_RETURN_IF_ERROR(ArchiveTopic(topic, live, archive, &stats).WithContext("archive " + topic));
    }
  }
  return stats;
}

}  // namespace vigil
