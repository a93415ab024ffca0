// The dashboard's files, compiled into the binary: CMake generates their definition
// (dashboard_assets.cc in the build tree, by cmake/embed_files.cmake) from web/ and the
// chart library in web/node_modules at build time.
#pragma once

#include <span>
#include <string_view>

namespace vigil {

struct DashboardAsset {
  std::string_view name;          // "dashboard.html", "dashboard.js", "uPlot.iife.min.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;          // the file's bytes
};

// Every embedded file; the page is "dashboard.html". Static storage, never empty.
std::span<const DashboardAsset> DashboardAssets();

}  // namespace vigil
