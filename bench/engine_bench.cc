// vigil's compute path, timed single-threaded on one machine (DESIGN.md §8). `make bench`
// runs it through scripts/bench, next to DuckDB computing the same features.
//
//   vigil_bench --project DIR --data DIR [--reps 3] [--sources a,b] [--metrics LIST]
//               [--max-events N] [--advance-every 4096] [--spec-out FILE]
//
// For every source that has feature views and a file DIR/<source>.jsonl, and every
// repetition:
//   decode  JSONL -> Event with the ingest options (DecodeFile); events are dropped.
//   engine  events already decoded in memory -> Watermark + ViewEngine Add / EmitUntil
//           for every view of the source -> changelog rows, each encoded with
//           EncodeChangelogPayload into a reused string. This is StreamWorker's loop
//           (src/compute/stream_worker.cc) minus the log: no topic read, no Append; like
//           it, the engines advance to the watermark every --advance-every accepted
//           events and at the end of the input.
//   e2e     decode -> engine -> encoded rows, streaming from the file.
//   view    (with --metrics view) engine with one view at a time, metric "view:<name>".
// Every line "RESULT\t<metric>\t<source>\t<events>\t<rows>\t<s1,s2,...>" is for
// scripts/bench; the rest is for people. Repetitions are interleaved (decode, engine,
// e2e, then again) so that a noisy neighbour spreads over all metrics.
//
// --spec-out writes the sources (file, schema) and views of the project as JSON for
// tools/node/bench_duckdb.mjs, so the peer computes exactly these features without a
// YAML parser of its own.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "compute/changelog.h"
#include "compute/stream_worker.h"
#include "compute/view_engine.h"
#include "schema/event_decoder.h"
#include "spec/definitions.h"

namespace vigil::bench {
namespace {

namespace fs = std::filesystem;

struct Args {
  std::string project;
  std::string data;
  int reps = 3;
  std::vector<std::string> sources;  // empty: every source with views
  std::vector<std::string> metrics = {"decode", "engine", "e2e"};
  int64_t max_events = -1;  // -1: the whole file
  // Accepted events between two advances to the watermark; StreamWorker's kAdvanceEvery
  // (src/compute/stream_worker.cc), which this must follow. 1: advance after every event.
  int64_t advance_every = kStreamAdvanceEvery;
  std::string spec_out;
};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The bench stops at the first error, printing the Status text.
[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "vigil_bench: %s\n", what.c_str());
  std::exit(1);
}

DecodeOptions IngestOptions(const Definitions& defs, const SourceDef& source) {
  // As `vigil ingest` decodes (src/cli/commands.cc).
  DecodeOptions opts;
  opts.source = source.name;
  opts.schema = source.schema;
  opts.ts_field = source.ts_field;
  opts.required = defs.RequiredFields(source.name);
  opts.max_ts = WallClockMs() + source.max_future;
  return opts;
}

// The compute of one source, as StreamWorker::SourceTask::Poll drives it, with the
// changelog rows counted and encoded instead of appended to a topic: accepted events are
// added to every view's engine in batches of up to kStreamAddBatch (ViewEngine::AddBatch),
// and every `advance_every` accepted events (and once at the end of the input) each
// engine advances to the watermark, after the events before it are added.
class SourceCompute {
 public:
  SourceCompute(const SourceDef& source, const std::vector<const FeatureViewDef*>& views,
                int64_t advance_every)
      : wm_(source.allowed_lateness), advance_every_(advance_every) {
    for (const auto* v : views) outs_.push_back({std::make_unique<ViewEngine>(*v), 0});
  }

  // Computes events evs[i] with seq first_seq + i, as a poll of that many records does.
  // Not inlined, so that callgrind can collect exactly this:
  //   --toggle-collect='*SourceCompute::Process*'
  [[gnu::noinline]] void Process(std::span<const Event> evs, uint64_t first_seq) {
    size_t begin = 0;                   // evs[begin..) are accepted and not yet added
    auto add_until = [&](size_t end) {  // adds evs[begin..end); the next run starts after it
      Add(evs.subspan(begin, end - begin), first_seq + begin);
      begin = end;
    };
    for (size_t i = 0; i < evs.size(); ++i) {
      ++in_;
      if (!wm_.Observe(evs[i].ts)) {
        ++late_;
        add_until(i);
        begin = i + 1;  // skips the late event
        continue;
      }
      const bool advance = ++since_advance_ >= advance_every_;
      if (advance || i + 1 - begin == kStreamAddBatch) add_until(i + 1);
      if (advance) Advance();
    }
    add_until(evs.size());
  }

  // Emits every row before the watermark (the end of StreamWorker's Poll).
  [[gnu::noinline]] void Advance() {
    since_advance_ = 0;
    TimestampMs bound = wm_.current();
    for (auto& o : outs_) {
      o.engine->EmitUntil(bound, [&](const ChangelogRow& row) {
        payload_.clear();
        EncodeChangelogPayload(row, &payload_);
        bytes_ += payload_.size() + row.entity.size();
        ++o.rows;
        ++rows_;
      });
    }
  }

  int64_t in() const { return in_; }
  int64_t late() const { return late_; }
  int64_t rows() const { return rows_; }
  uint64_t bytes() const { return bytes_; }
  size_t entities() const {
    size_t n = 0;
    for (const auto& o : outs_) n += o.engine->num_entities();
    return n;
  }

 private:
  struct Output {
    std::unique_ptr<ViewEngine> engine;
    int64_t rows;
  };
  // Adds events with consecutive seqs from first_seq to every engine.
  void Add(std::span<const Event> evs, uint64_t first_seq) {
    if (evs.empty()) return;
    seqs_.resize(evs.size());
    for (size_t i = 0; i < evs.size(); ++i) seqs_[i] = first_seq + i;
    for (auto& o : outs_) o.engine->AddBatch(evs, seqs_);
  }
  Watermark wm_;
  int64_t advance_every_;
  int64_t since_advance_ = 0;
  std::vector<Output> outs_;
  std::vector<uint64_t> seqs_;
  std::string payload_;
  int64_t in_ = 0, late_ = 0, rows_ = 0;
  uint64_t bytes_ = 0;
};

struct Timings {
  int64_t events = 0;
  int64_t rows = 0;
  std::vector<double> seconds;
};

void PrintResult(const std::string& metric, const std::string& source, const Timings& t) {
  std::vector<double> s = t.seconds;
  std::sort(s.begin(), s.end());
  double median = s.empty() ? 0 : s[s.size() / 2];
  std::printf("  %-22s %-16s %9lld events %9lld rows  median %7.3f s  %8.3f M events/s  (", metric.c_str(),
              source.c_str(), static_cast<long long>(t.events), static_cast<long long>(t.rows), median,
              median > 0 ? t.events / median / 1e6 : 0.0);
  for (size_t i = 0; i < t.seconds.size(); ++i) std::printf("%s%.3f", i ? " " : "", t.seconds[i]);
  std::printf(")\n");
  std::printf("RESULT\t%s\t%s\t%lld\t%lld\t", metric.c_str(), source.c_str(),
              static_cast<long long>(t.events), static_cast<long long>(t.rows));
  for (size_t i = 0; i < t.seconds.size(); ++i) std::printf("%s%.6f", i ? "," : "", t.seconds[i]);
  std::printf("\n");
  std::fflush(stdout);
}

class SourceBench {
 public:
  SourceBench(const Args& args, const Definitions& defs, const SourceDef& source, std::string file)
      : args_(args),
        defs_(defs),
        source_(source),
        file_(std::move(file)),
        views_(defs.ViewsOf(source.name)),
        opts_(IngestOptions(defs, source)) {}

  void Run() {
    const bool want_engine = Has(args_.metrics, "engine") || Has(args_.metrics, "view");
    if (want_engine) Load();
    std::vector<std::pair<std::string, Timings>> results;
    auto slot = [&](const std::string& metric) -> Timings& {
      for (auto& [m, t] : results) {
        if (m == metric) return t;
      }
      results.push_back({metric, {}});
      return results.back().second;
    };
    for (int rep = 0; rep < args_.reps; ++rep) {
      if (Has(args_.metrics, "decode")) Decode(&slot("decode"));
      if (Has(args_.metrics, "engine")) Engine(views_, &slot("engine"));
      if (Has(args_.metrics, "e2e")) EndToEnd(&slot("e2e"));
      if (Has(args_.metrics, "view")) {
        for (const auto* v : views_) Engine({v}, &slot("view:" + v->name));
      }
    }
    for (const auto& [metric, t] : results) PrintResult(metric, source_.name, t);
    events_.clear();
    events_.shrink_to_fit();
  }

 private:
  // Decodes the file with `on_event`, stopping after --max-events.
  void DecodeWith(const std::function<void(Event&&)>& on_event) {
    int64_t n = 0;
    bool enough = false;  // stopped after --max-events (a small run for callgrind)
    Status st = DecodeFile(
        file_, InputFormat::kJsonLines, opts_,
        [&](Event&& ev, int64_t) -> Status {
          if (args_.max_events >= 0 && n >= args_.max_events) {
            enough = true;
            return Status::NotFound("enough events");
          }
          ++n;
          on_event(std::move(ev));
          return Status::OK();
        },
        [&](RejectedRecord&& r) -> Status {
          ++rejected_;
          return Status::OK();
        });
    if (!st.ok() && !enough) Die(file_ + ": " + st.ToString());
  }

  void Load() {
    auto start = std::chrono::steady_clock::now();
    DecodeWith([&](Event&& ev) { events_.push_back(std::move(ev)); });
    std::printf("%s: %zu events in memory (%lld rejected) in %.2f s; %zu views\n", source_.name.c_str(),
                events_.size(), static_cast<long long>(rejected_), Since(start), views_.size());
  }

  void Decode(Timings* t) {
    int64_t n = 0;
    TimestampMs check = 0;
    auto start = std::chrono::steady_clock::now();
    DecodeWith([&](Event&& ev) {
      ++n;
      check ^= ev.ts;  // keeps the events observable
    });
    t->seconds.push_back(Since(start));
    t->events = n;
    if (check == 42) std::printf(" ");
  }

  void Engine(const std::vector<const FeatureViewDef*>& views, Timings* t) {
    auto compute = std::make_unique<SourceCompute>(source_, views, args_.advance_every);
    auto start = std::chrono::steady_clock::now();
    compute->Process(events_, 0);
    compute->Advance();
    t->seconds.push_back(Since(start));  // before the state is freed
    t->events = compute->in();
    t->rows = compute->rows();
    if (t->seconds.size() == 1 && views.size() == views_.size()) {
      std::printf("%s: %lld late, %lld changelog rows (%.1f MB encoded), %zu entities held at the end\n",
                  source_.name.c_str(), static_cast<long long>(compute->late()),
                  static_cast<long long>(compute->rows()), compute->bytes() / 1e6, compute->entities());
    }
  }

  void EndToEnd(Timings* t) {
    auto compute = std::make_unique<SourceCompute>(source_, views_, args_.advance_every);
    // Decoded events go through in batches of kStreamAddBatch, as the stream worker
    // decodes its records.
    std::vector<Event> batch;
    batch.reserve(kStreamAddBatch);
    uint64_t seq = 0;
    auto start = std::chrono::steady_clock::now();
    DecodeWith([&](Event&& ev) {
      batch.push_back(std::move(ev));
      if (batch.size() == kStreamAddBatch) {
        compute->Process(batch, seq);
        seq += batch.size();
        batch.clear();
      }
    });
    compute->Process(batch, seq);
    compute->Advance();
    t->seconds.push_back(Since(start));
    t->events = compute->in();
    t->rows = compute->rows();
  }

  const Args& args_;
  const Definitions& defs_;
  const SourceDef& source_;
  std::string file_;
  std::vector<const FeatureViewDef*> views_;
  DecodeOptions opts_;
  std::vector<Event> events_;
  int64_t rejected_ = 0;
};

void WriteSpec(const Project& p, const Args& args) {
  nlohmann::ordered_json spec;
  spec["sources"] = nlohmann::ordered_json::object();
  spec["views"] = nlohmann::ordered_json::object();
  for (const auto& [name, src] : p.defs.sources) {
    if (p.defs.ViewsOf(name).empty()) continue;
    nlohmann::ordered_json s;
    s["file"] = fs::absolute(args.data + "/" + name + ".jsonl").string();
    s["ts_field"] = src.ts_field;
    s["allowed_lateness_ms"] = src.allowed_lateness;
    s["schema"] = nlohmann::ordered_json::object();
    for (const auto& f : src.schema.fields()) s["schema"][f.name] = std::string(TypeName(f.type));
    spec["sources"][name] = s;
  }
  for (const auto& [name, view] : p.defs.views) {
    nlohmann::ordered_json v;
    v["source"] = view.source;
    const Schema& schema = p.defs.FindSource(view.source)->schema;
    v["keys"] = nlohmann::ordered_json::array();
    for (int k : view.key_indexes) v["keys"].push_back(schema.field(k).name);
    v["ttl_ms"] = view.ttl == kNoTtl ? nlohmann::ordered_json() : nlohmann::ordered_json(view.ttl);
    v["features"] = nlohmann::ordered_json::array();
    for (const auto& f : view.features) {
      nlohmann::ordered_json j;
      j["name"] = f.name;
      j["agg"] = std::string(AggName(f.agg));
      j["field"] = f.field.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(f.field);
      j["window_ms"] = f.window ? nlohmann::ordered_json(*f.window) : nlohmann::ordered_json();
      j["where"] = f.where.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(f.where);
      v["features"].push_back(j);
    }
    spec["views"][name] = v;
  }
  std::ofstream out(args.spec_out, std::ios::trunc);
  out << spec.dump(2) << "\n";
  if (!out.flush()) Die("cannot write " + args.spec_out);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--project")
      a.project = value();
    else if (flag == "--data")
      a.data = value();
    else if (flag == "--reps")
      a.reps = std::stoi(value());
    else if (flag == "--sources")
      a.sources = SplitList(value());
    else if (flag == "--metrics")
      a.metrics = SplitList(value());
    else if (flag == "--max-events")
      a.max_events = std::stoll(value());
    else if (flag == "--advance-every")
      a.advance_every = std::max<int64_t>(1, std::stoll(value()));
    else if (flag == "--spec-out")
      a.spec_out = value();
    else
      Die("unknown flag " + flag + " (see the header of bench/engine_bench.cc)");
  }
  if (a.project.empty() || a.data.empty()) Die("usage: vigil_bench --project DIR --data DIR [--reps N] ...");
  for (const auto& m : a.metrics) {
    if (m != "decode" && m != "engine" && m != "e2e" && m != "view") Die("unknown metric " + m);
  }
  return a;
}

int Main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  auto project = LoadProject(args.project);
  if (!project.ok()) Die(project.status().ToString());
  const Project& p = *project;
  if (!args.spec_out.empty()) WriteSpec(p, args);
  for (const auto& [name, source] : p.defs.sources) {
    if (p.defs.ViewsOf(name).empty()) continue;
    if (!args.sources.empty() && !Has(args.sources, name)) continue;
    std::string file = args.data + "/" + name + ".jsonl";
    if (!fs::exists(file)) {
      std::printf("%s: no %s, skipped\n", name.c_str(), file.c_str());
      continue;
    }
    SourceBench(args, p.defs, source, file).Run();
  }
  return 0;
}

}  // namespace
}  // namespace vigil::bench

int main(int argc, char** argv) { return vigil::bench::Main(argc, argv); }
