// The `vigil` commands (DESIGN.md §7). Each prints its result on stdout and returns a
// Status; main() turns a non-OK one into a one-line reason on stderr and exit status 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "generate/generator.h"
#include "training/dataset.h"

namespace vigil::cli {

Status Validate(const std::string& project);
Status Generate(const GenerateOptions& options);
// Appends the events of each file (JSONL, CSV) to the source's topic; rejects go to
// dlq.<source> with their reason. Prints accepted and rejected counts.
Status Ingest(const std::string& project, const std::string& source, const std::vector<std::string>& files);
// Compute (sources -> changelogs) then ingestion (changelogs -> online store). With
// until_caught_up false, keeps polling until SIGINT or SIGTERM.
Status Stream(const std::string& project, bool until_caught_up);
// Prints the online row of one entity as JSON. `key` is "a,b" (key parts in the
// entity's key order) or a JSON object naming every key field.
Status Get(const std::string& project, const std::string& view, const std::string& key);
Status Dataset(const std::string& project, const DatasetOptions& options);
// Prints a view's changelog as CSV (entity key columns, ts, features), sorted by entity
// then ts: from the changelog topic, or, with replay, recomputed from the source topic
// by the batch path up to the source's watermark (the stream's bound).
Status Changelog(const std::string& project, const std::string& view, bool replay, const std::string& out);
// generate -> ingest -> stream -> get -> dataset on a copy of examples/fraud.
Status Demo(const std::string& project, const std::string& work_dir, int64_t users, int days);

}  // namespace vigil::cli
