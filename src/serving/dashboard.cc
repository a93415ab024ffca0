#include "serving/dashboard.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>

#include "monitoring/dashboard_data.h"
#include "serving/dashboard_internal.h"
#include "serving/percent_decode.h"

namespace vigil {
namespace {

using json = nlohmann::json;

// The page may only load what this server serves; uPlot sets inline styles.
constexpr char kContentSecurityPolicy[] =
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'";

struct DashboardState {
  explicit DashboardState(const DashboardOptions& o)
      : models_root(o.models_root), history(o.log, MonitorHistoryOptions{o.history}) {}
  std::string models_root;
  MonitorHistory history;
  std::unique_ptr<LiveSampler> sampler;  // null without a registry
};

bool IsModelName(std::string_view name) {
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// The `model` of "model=M" ("" when not given). InvalidArgument for any other parameter
// or a name that cannot be a model's.
Result<std::string> ModelParameter(std::string_view query) {
  std::string model;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string key = PercentDecodeQuery(part.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : PercentDecodeQuery(part.substr(eq + 1));
    if (key != "model") {
      return Status::InvalidArgument("unknown query parameter '" + key + "': the only one is model=NAME");
    }
    if (!IsModelName(value)) {
      return Status::InvalidArgument("model '" + value + "' is not a model name ([a-z][a-z0-9_]*)");
    }
    model = value;
  }
  return model;
}

HttpResponse WithModel(const std::string& model, const std::string& document) {
  // document is a non-empty JSON object: {"model": ..., <its members>}.
  std::string body = "{\"model\":" + (model.empty() ? std::string("null") : json(model).dump());
  body += document.size() > 2 ? "," + document.substr(1) : "}";
  HttpResponse r = HttpResponse::Json(200, std::move(body));
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// A handler for one /v1/monitor/{drift,skew,performance} document.
using DocumentOf = std::string (MonitorHistory::*)(const std::string&) const;
std::function<HttpResponse(const HttpRequest&)> TopicDocument(std::shared_ptr<DashboardState> state,
                                                              DocumentOf document) {
  return [state = std::move(state), document](const HttpRequest& req) {
    auto model = ModelParameter(req.query);
    if (!model.ok()) return HttpResponse::Error(400, model.status().message());
    Status s = state->history.Refresh();
    if (!s.ok()) return HttpResponse::Error(500, s.ToString());
    return WithModel(*model, (state->history.*document)(*model));
  };
}

HttpResponse Asset(std::string_view name) {
  for (const DashboardAsset& a : DashboardAssets()) {
    if (a.name != name) continue;
    HttpResponse r;
    r.content_type = std::string(a.content_type);
    r.body = std::string(a.body);
    r.headers = {{"Cache-Control", "no-cache"},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Content-Security-Policy", kContentSecurityPolicy}};
    return r;
  }
  return HttpResponse::Error(404, "no dashboard file '" + std::string(name) + "'");
}

}  // namespace

std::vector<Route> DashboardRoutes(const DashboardOptions& options) {
  auto state = std::make_shared<DashboardState>(options);
  if (options.metrics != nullptr) {
    LiveSamplerOptions lo;
    lo.interval = options.sample_interval;
    lo.capacity = options.live_samples;
    lo.excluded_routes = {"metrics",         "dashboard",      "dashboard_asset",       "dashboard_live",
                          "dashboard_drift", "dashboard_skew", "dashboard_performance", "dashboard_models"};
    state->sampler = std::make_unique<LiveSampler>(options.metrics, lo);
  }
  std::vector<Route> routes;
  routes.push_back({"GET", "/dashboard", Access::kPublic, "dashboard",
                    [](const HttpRequest&) { return Asset("dashboard.html"); }});
  routes.push_back({"GET", "/dashboard/{asset}", Access::kPublic, "dashboard_asset",
                    [](const HttpRequest& req) { return Asset(req.params.at("asset")); }});
  routes.push_back(
      {"GET", "/v1/monitor/live", Access::kApi, "dashboard_live", [state](const HttpRequest& req) {
         if (!req.query.empty()) return HttpResponse::Error(400, "/v1/monitor/live takes no parameters");
         std::string body = state->sampler ? state->sampler->ToJson()
                                           : R"({"interval_ms":1000,"t":[],"qps":[],"errors_per_second":[],)"
                                             R"("p50_ms":[],"p99_ms":[]})";
         HttpResponse r = HttpResponse::Json(200, std::move(body));
         r.headers.emplace_back("Cache-Control", "no-store");
         return r;
       }});
  routes.push_back({"GET", "/v1/monitor/drift", Access::kApi, "dashboard_drift",
                    TopicDocument(state, &MonitorHistory::DriftJson)});
  routes.push_back({"GET", "/v1/monitor/skew", Access::kApi, "dashboard_skew",
                    TopicDocument(state, &MonitorHistory::SkewJson)});
  routes.push_back({"GET", "/v1/monitor/performance", Access::kApi, "dashboard_performance",
                    TopicDocument(state, &MonitorHistory::PerformanceJson)});
  routes.push_back(
      {"GET", "/v1/monitor/models", Access::kApi, "dashboard_models", [state](const HttpRequest& req) {
         if (!req.query.empty()) return HttpResponse::Error(400, "/v1/monitor/models takes no parameters");
         auto doc = ModelsDashboardJson(state->models_root);
         if (!doc.ok()) return HttpResponse::Error(500, doc.status().ToString());
         HttpResponse r = HttpResponse::Json(200, std::move(doc).value());
         r.headers.emplace_back("Cache-Control", "no-store");
         return r;
       }});
  return routes;
}

}  // namespace vigil
