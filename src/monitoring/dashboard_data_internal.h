// Helpers of dashboard_data.cc, exposed for its tests.
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::dashboard_internal {

// The HTTP server's totals summed over every route not in `excluded_routes`, read from a
// Prometheus text exposition (MetricsRegistry::RenderText).
struct HttpTotals {
  uint64_t requests = 0;          // vigil_http_requests_total, every code
  uint64_t errors = 0;            // the same with a 5xx code
  std::vector<double> bounds;     // histogram le bounds, ascending, +Inf last
  std::vector<uint64_t> buckets;  // cumulative counts per bound (as exposed)
};
// Lines that are not samples of those two families are ignored; so is a malformed line.
HttpTotals ParseHttpTotals(std::string_view exposition, const std::set<std::string>& excluded_routes);

// The q-quantile (0 < q < 1) of observations counted in cumulative `buckets` with upper
// bounds `bounds` (+Inf last), interpolating linearly within the bucket, the lowest from
// 0; one in the +Inf bucket is given the highest finite bound. NaN when there are none.
double QuantileFromBuckets(std::span<const double> bounds, std::span<const uint64_t> buckets, double q);

}  // namespace vigil::dashboard_internal
