#include "cli/commands.h"

#include <csignal>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "compute/batch_replay.h"
#include "compute/stream_worker.h"
#include "log/log.h"
#include "schema/csv.h"
#include "schema/event_decoder.h"
#include "schema/row_codec.h"
#include "spec/definitions.h"
#include "store/ingestion.h"
#include "store/online_store.h"

namespace vigil::cli {
namespace {

namespace fs = std::filesystem;

std::string LogDir(const Project& p) { return p.settings.data_dir + "/log"; }
std::string OnlineDir(const Project& p) { return p.settings.data_dir + "/online"; }

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string Rate(int64_t n, double seconds) {
  char buf[64];
  double r = seconds > 0 ? static_cast<double>(n) / seconds : 0;
  if (r >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM/s", r / 1e6);
  else if (r >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fk/s", r / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f/s", r);
  return buf;
}

// Decides only how a dead letter carries its bytes (text or hex); overlong forms pass.
bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 4;
    if (n == 4 || i + n >= s.size() + (n == 0 ? 1 : 0)) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

// A dead-letter record: why, where, and the original bytes (as text when they are
// UTF-8, else hex), so nothing is lost.
std::string DeadLetter(const RejectedRecord& r) {
  std::string out = "{\"reason\":";
  AppendJsonString(r.reason, &out);
  out += ",\"file\":";
  AppendJsonString(r.file, &out);
  out += ",\"line\":" + std::to_string(r.line);
  if (ValidUtf8(r.raw)) {
    out += ",\"raw\":";
    AppendJsonString(r.raw, &out);
  } else {
    out += ",\"raw_hex\":\"";
    AppendHex(r.raw, &out);
    out += "\"";
  }
  out += "}";
  return out;
}

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

}  // namespace

Status Validate(const std::string& project) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  size_t features = 0;
  for (const auto& [n, v] : p.defs.views) features += v.features.size();
  std::printf("ok: %zu entities, %zu sources, %zu feature views, %zu features\n", p.defs.entities.size(),
              p.defs.sources.size(), p.defs.views.size(), features);
  return Status::OK();
}

Status Generate(const GenerateOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(GenerateStats stats, vigil::Generate(options));
  int64_t total = 0;
  for (const auto& [source, n] : stats.events_per_source) {
    std::printf("%-16s %10lld events\n", source.c_str(), static_cast<long long>(n));
    total += n;
  }
  std::printf("labels           %10lld rows (%lld fraud)\n", static_cast<long long>(stats.labels),
              static_cast<long long>(stats.fraud_labels));
  std::printf("generated %lld events in %.2f s (%s) into %s\n", static_cast<long long>(total), stats.seconds,
              Rate(total, stats.seconds).c_str(), options.out_dir.c_str());
  return Status::OK();
}

Status Ingest(const std::string& project, const std::string& source_name,
              const std::vector<std::string>& files) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  const SourceDef* source = p.defs.FindSource(source_name);
  if (!source) return Status::InvalidArgument("unknown source '" + source_name + "'");
  DecodeOptions opts;
  opts.source = source->name;
  opts.schema = source->schema;
  opts.ts_field = source->ts_field;
  opts.required = p.defs.RequiredFields(source->name);
  opts.max_ts = WallClockMs() + source->max_future;
  opts.forbidden_key_bytes = std::string(1, kKeySeparator);
  VIGIL_ASSIGN_OR_RETURN(auto log, Log::Open(LogDir(p)));
  VIGIL_ASSIGN_OR_RETURN(auto topic, log->OpenWriter(source->name));
  VIGIL_ASSIGN_OR_RETURN(auto dlq, log->OpenWriter(DeadLetterTopic(source->name)));
  auto start = std::chrono::steady_clock::now();
  int64_t accepted = 0, rejected = 0;
  std::string payload;
  for (const auto& file : files) {
    VIGIL_ASSIGN_OR_RETURN(InputFormat format, FormatFromPath(file));
    auto reject = [&](RejectedRecord&& r) -> Status {
      ++rejected;
      return dlq->Append("reject:" + r.file + ":" + std::to_string(r.line), DeadLetter(r)).status();
    };
    VIGIL_RETURN_IF_ERROR(DecodeFile(
        file, format, opts,
        [&](Event&& ev, int64_t) -> Status {
          payload.clear();
          EncodeEvent(ev, &payload);
          ++accepted;
          return topic->Append({}, payload).status();
        },
        reject));
  }
  VIGIL_RETURN_IF_ERROR(topic->Flush(true));
  VIGIL_RETURN_IF_ERROR(dlq->Flush(true));
  double s = Since(start);
  std::printf("%s: accepted %lld, rejected %lld (dead-letter topic %s) in %.2f s (%s)\n",
              source->name.c_str(), static_cast<long long>(accepted), static_cast<long long>(rejected),
              DeadLetterTopic(source->name).c_str(), s, Rate(accepted + rejected, s).c_str());
  return Status::OK();
}

Status Stream(const std::string& project, bool until_caught_up) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto log, Log::Open(LogDir(p)));
  OnlineStoreOptions oopts;
  oopts.shards = p.settings.online_shards;
  VIGIL_ASSIGN_OR_RETURN(auto online, OnlineStore::Open(OnlineDir(p), oopts));
  VIGIL_ASSIGN_OR_RETURN(auto worker, StreamWorker::Open(p.defs, log.get()));
  VIGIL_ASSIGN_OR_RETURN(auto ingestion, IngestionWorker::Open(p.defs, log.get(), online.get()));
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  int64_t applied = 0;
  double ingest_seconds = 0;
  IngestionStats last_ingest;
  do {
    VIGIL_ASSIGN_OR_RETURN(int64_t n, worker->Poll());
    VIGIL_RETURN_IF_ERROR(worker->Flush());
    // The ingestion consumer reads only what compute has appended to the log.
    VIGIL_ASSIGN_OR_RETURN(IngestionStats ing, ingestion->Poll());
    applied += ing.rows_applied;
    ingest_seconds += ing.seconds;
    if (ing.rows_applied > 0) last_ingest = ing;
    if (until_caught_up) break;
    if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (!g_stop);
  const StreamStats& st = worker->stats();
  std::printf("compute: %lld source events (%lld late -> dlq), %lld changelog rows in %.2f s (%s)\n",
              static_cast<long long>(st.events_in), static_cast<long long>(st.late),
              static_cast<long long>(st.rows_out), st.seconds, Rate(st.events_in, st.seconds).c_str());
  for (const auto& [source, wm] : st.watermarks) {
    std::printf("  watermark %-16s %s\n", source.c_str(),
                wm == kMinTimestamp ? "-" : FormatIsoTimestamp(wm).c_str());
  }
  std::printf("ingestion: %lld rows applied to the online store in %.2f s (%s), %s rows online\n",
              static_cast<long long>(applied), ingest_seconds, Rate(applied, ingest_seconds).c_str(),
              online->GetProperty("online.rows").value_or("?").c_str());
  return Status::OK();
}

Status Get(const std::string& project, const std::string& view_name, const std::string& key_text) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  const FeatureViewDef* view = p.defs.FindView(view_name);
  if (!view) return Status::InvalidArgument("unknown feature view '" + view_name + "'");
  const EntityDef& entity = *p.defs.FindEntity(view->entity);
  std::vector<std::string> parts;
  if (!key_text.empty() && key_text[0] == '{') {
    auto j = nlohmann::json::parse(key_text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return Status::InvalidArgument("key is not a JSON object: " + key_text);
    for (const auto& k : entity.keys) {
      if (!j.contains(k)) return Status::InvalidArgument("key object lacks '" + k + "'");
      const auto& v = j[k];
      if (v.is_string())
        parts.push_back(v.get<std::string>());
      else if (v.is_number_integer() || v.is_boolean())
        parts.push_back(v.dump());
      else
        return Status::InvalidArgument("key field '" + k + "' must be a string or an integer");
    }
  } else {
    size_t start = 0;
    while (true) {
      size_t comma = key_text.find(',', start);
      parts.push_back(key_text.substr(start, comma == std::string::npos ? comma : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (parts.size() != entity.keys.size()) {
    return Status::InvalidArgument("entity '" + entity.name + "' has " + std::to_string(entity.keys.size()) +
                                   " key fields, got " + std::to_string(parts.size()));
  }
  std::string key;
  for (size_t i = 0; i < parts.size(); ++i) key += (i ? std::string(1, kKeySeparator) : "") + parts[i];
  OnlineStoreOptions oopts;
  oopts.read_only = true;
  VIGIL_ASSIGN_OR_RETURN(auto online, OnlineStore::Open(OnlineDir(p), oopts));
  std::optional<FeatureRow> row;
  VIGIL_RETURN_IF_ERROR(online->MultiGet(view->name, std::span(&key, 1), std::span(&row, 1)));
  std::string out = "{\"view\":";
  AppendJsonString(view->name, &out);
  out += ",\"key\":{";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(entity.keys[i], &out);
    out += ":";
    AppendJsonString(parts[i], &out);
  }
  out += "},\"found\":";
  out += row ? "true" : "false";
  out += ",\"ts\":" + (row ? std::to_string(row->ts) : std::string("null"));
  out += ",\"ts_iso\":";
  if (row)
    AppendJsonString(FormatIsoTimestamp(row->ts), &out);
  else
    out += "null";
  out += ",\"features\":{";
  for (size_t i = 0; i < view->features.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(view->features[i].name, &out);
    out += ":";
    if (row && i < row->values.size())
      row->values[i].AppendJson(&out);
    else
      out += "null";
  }
  out += "}}";
  std::printf("%s\n", out.c_str());
  return Status::OK();
}

Status Dataset(const std::string& project, const DatasetOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto log, Log::Open(LogDir(p)));
  VIGIL_ASSIGN_OR_RETURN(DatasetStats st, BuildDataset(p.defs, log.get(), options));
  std::printf("dataset: %lld labels x %zu views from %lld replayed events in %.2f s (%s labels) -> %s\n",
              static_cast<long long>(st.labels), options.views.size(),
              static_cast<long long>(st.events_replayed), st.seconds, Rate(st.labels, st.seconds).c_str(),
              options.out_path.c_str());
  return Status::OK();
}

Status Changelog(const std::string& project, const std::string& view_name, bool replay,
                 const std::string& out_path) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  const FeatureViewDef* view = p.defs.FindView(view_name);
  if (!view) return Status::InvalidArgument("unknown feature view '" + view_name + "'");
  VIGIL_ASSIGN_OR_RETURN(auto log, Log::Open(LogDir(p)));
  std::vector<ChangelogRow> rows;
  if (replay) {
    VIGIL_ASSIGN_OR_RETURN(SourceHistory h, ReadSourceHistory(*p.defs.FindSource(view->source), log.get()));
    std::mutex mu;
    ReplayView(*view, h, h.watermark, 2, [&](const std::string&, std::vector<ChangelogRow>&& r) {
      std::lock_guard lock(mu);
      for (auto& x : r) rows.push_back(std::move(x));
    });
  } else {
    VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(ChangelogTopic(view->name)));
    LogRecord rec;
    for (;;) {
      VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
      if (!more) break;
      ChangelogRow row;
      VIGIL_RETURN_IF_ERROR(DecodeChangelogPayload(rec.payload, &row));
      row.entity.assign(rec.key);
      rows.push_back(std::move(row));
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const ChangelogRow& a, const ChangelogRow& b) {
    return a.entity != b.entity ? a.entity < b.entity : a.ts < b.ts;
  });
  const EntityDef& entity = *p.defs.FindEntity(view->entity);
  std::string out;
  for (const auto& k : entity.keys) {
    AppendCsvCell(k, &out);
    out += ",";
  }
  out += "ts";
  for (const auto& f : view->features) {
    out += ",";
    AppendCsvCell(f.name, &out);
  }
  out += "\n";
  for (const auto& r : rows) {
    for (const auto& part : SplitEntityKey(r.entity)) {
      AppendCsvCell(part, &out);
      out += ",";
    }
    out += std::to_string(r.ts);
    for (const auto& v : r.values) {
      out += ",";
      AppendCsvCell(v.ToCsvText(), &out);
    }
    out += "\n";
  }
  if (out_path == "-") {
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    std::ofstream f(out_path, std::ios::binary | std::ios::trunc);
    f << out;
    if (!f.flush()) return Status::IOError("write " + out_path);
  }
  return Status::OK();
}

}  // namespace vigil::cli
