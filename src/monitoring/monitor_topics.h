// The topics monitoring writes, and the JSON record each holds (one record per message,
// key: the model). Readers (the dashboard, scripts, tests) rely on these shapes.
//
//   _drift        one closed drift window of one (model, version): DriftWindowReport::ToJson
//                 {"model","version","from","to","requests","level","results":[{"feature",
//                  "categorical","count","missing","psi","ks","js",...,"level"}...]}   (monitoring/drift_monitor.h)
//   _alerts       one alert state change: {"at","model","version","feature","from","to",
//                 "psi","ks","js"} for drift (AlertChange::ToJson); a performance alert has
//                 feature "__roc_auc__" and adds "roc_auc".
//   _skew         one skew check of one (model, version) (monitoring/skew.h):
//                 {"ts": when checked (ms), "model", "version", "from", "to" (the served
//                  records' ts range), "sampled": records compared, "mismatched_rows": records
//                  with any feature differing, "mismatch_rate": mismatched_rows / sampled,
//                  "features": [{"feature", "compared", "mismatches", "rate"}...]}
//   _performance  measured quality of one (model, version) over one window of serving time,
//                 from labels that arrived later (monitoring/performance.h):
//                 {"model","version","from","to","scored","labels","positives",
//                  "roc_auc","pr_auc","log_loss"}   (null where undefined, e.g. one class)
#pragma once

namespace vigil {

inline constexpr char kDriftTopic[] = "_drift";
inline constexpr char kAlertsTopic[] = "_alerts";
inline constexpr char kSkewTopic[] = "_skew";
inline constexpr char kPerformanceTopic[] = "_performance";

}  // namespace vigil
