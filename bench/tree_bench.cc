// Compiled trees against XGBoost (serving/compiled_model.h): the cost of scoring one row.
//
//   vigil_tree_bench [--rows 100000] [--reps 5] [--features 75] [--rounds 150] [--depth 6]
//
// Trains a model shaped like vigil's fraud model on synthetic data (--features columns of
// amounts, counts and ratios, ~10% missing, a rare positive class; --rounds trees of
// max_depth --depth, one XGBoost thread), then scores --rows other rows, single threaded:
//   compiled   CompiledModel::Predict, row by row
//   xgboost    XgbModel::PredictRow, i.e. XGBoosterPredictFromDense on one row (in-place
//              prediction, no DMatrix)
//   batch      CompiledModel::PredictBatch and XgbModel::Predict (a DMatrix) over all rows
// Each figure is the median of --reps passes, in microseconds per row. XGBoost runs its
// prediction under OpenMP with its default thread count; to keep it to one thread, the
// program re-executes itself with OMP_NUM_THREADS=1 unless the variable is already set
// (libgomp reads it once, at load). It also checks that both give the same probabilities.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "serving/compiled_model.h"
#include "training/xgboost_model.h"

namespace vigil::bench {
namespace {

struct Args {
  int64_t rows = 100000;
  int reps = 5;
  int features = 75;
  int rounds = 150;
  int depth = 6;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

[[noreturn]] void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "vigil_tree_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Check(Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what, r.status());
  return std::move(r).value();
}

// Fraud-like rows: columns cycle through amounts (log-normal), counts (Poisson), ratios
// (uniform) and flags; ~10% of the cells missing. The label depends on a dozen columns,
// with interactions, and is positive for a few percent of the rows.
DenseMatrix FraudLike(int64_t rows, int cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<float> amount(3, 1.2f);
  std::poisson_distribution<int> count(3);
  std::uniform_real_distribution<float> ratio(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  DenseMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.values.reserve(static_cast<size_t>(rows) * cols);
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      switch (c % 4) {
        case 0:
          row[c] = amount(rng);
          break;
        case 1:
          row[c] = static_cast<float>(count(rng));
          break;
        case 2:
          row[c] = ratio(rng);
          break;
        default:
          row[c] = u(rng) < 0.1 ? 1.0f : 0.0f;
      }
    }
    auto at = [&](int c) { return row[c % cols]; };
    double z = -4.5 + 0.8 * std::log1p(at(0)) - 0.3 * std::log1p(at(4)) + 0.4 * at(1) - 0.2 * at(5) +
               2.0 * (at(2) > 0.9f) + 1.5 * at(3) * at(7) + (at(6) < 0.1f ? 1.0 : 0.0) +
               0.5 * at(9) * at(10) - std::abs(at(14) - 0.5) + 0.3 * std::sin(at(8) / 10);
    m.labels.push_back(u(rng) < 1 / (1 + std::exp(-z)) ? 1.0f : 0.0f);
    for (float& v : row) {
      if (u(rng) < 0.1) v = std::numeric_limits<float>::quiet_NaN();
    }
    m.values.insert(m.values.end(), row.begin(), row.end());
  }
  return m;
}

template <typename F>
double MicrosPerRow(int reps, int64_t rows, F&& pass) {
  std::vector<double> us;
  for (int i = 0; i < reps; ++i) {
    auto start = std::chrono::steady_clock::now();
    pass();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
                 static_cast<double>(rows));
  }
  return Median(us);
}

int Main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> long {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "vigil_tree_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atol(argv[++i]);
    };
    if (a == "--rows") {
      args.rows = next();
    } else if (a == "--reps") {
      args.reps = static_cast<int>(next());
    } else if (a == "--features") {
      args.features = static_cast<int>(next());
    } else if (a == "--rounds") {
      args.rounds = static_cast<int>(next());
    } else if (a == "--depth") {
      args.depth = static_cast<int>(next());
    } else {
      std::fprintf(stderr,
                   "usage: vigil_tree_bench [--rows N] [--reps N] [--features N] [--rounds N] [--depth N]\n");
      return 2;
    }
  }
  if (args.rows < 1 || args.reps < 1 || args.features < 16 || args.rounds < 1 || args.depth < 1) {
    std::fprintf(stderr, "vigil_tree_bench: need rows, reps, rounds, depth >= 1 and features >= 16\n");
    return 2;
  }

  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 0) load[0] = -1;
  std::printf(
      "tree bench: %d features, %d rounds, max_depth %d, %lld rows, %d reps, OMP_NUM_THREADS=%s, "
      "load average %.2f\n",
      args.features, args.rounds, args.depth, static_cast<long long>(args.rows), args.reps,
      std::getenv("OMP_NUM_THREADS"), load[0]);

  DenseMatrix train = FraudLike(50000, args.features, 1);
  BoosterOptions options;
  options.params = {{"max_depth", std::to_string(args.depth)}, {"eta", "0.1"}, {"nthread", "1"}};
  options.rounds = args.rounds;
  options.early_stopping_rounds = 0;
  auto start = std::chrono::steady_clock::now();
  TrainedBooster trained = Check(TrainBooster(train, nullptr, options), "training");
  std::printf("trained in %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

  XgbModel xgb = Check(XgbModel::Load(trained.model_json), "loading into XGBoost");
  start = std::chrono::steady_clock::now();
  CompiledModel compiled = Check(CompiledModel::FromXgboostJson(trained.model_json), "compiling");
  std::printf("compiled %zu trees in %.1f ms (model JSON %.1f MB)\n", compiled.num_trees(),
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
              trained.model_json.size() / 1e6);

  const DenseMatrix test = FraudLike(args.rows, args.features, 2);
  const size_t width = static_cast<size_t>(args.features);
  std::vector<float> compiled_out(test.rows), xgb_out(test.rows), batch_out(test.rows);
  volatile float sink = 0;

  double compiled_us = MicrosPerRow(args.reps, test.rows, [&] {
    for (int64_t r = 0; r < test.rows; ++r)
      compiled_out[r] = compiled.Predict(test.values.data() + r * width);
    sink = sink + compiled_out[0];
  });
  double xgb_us = MicrosPerRow(args.reps, test.rows, [&] {
    for (int64_t r = 0; r < test.rows; ++r) {
      xgb_out[r] =
          Check(xgb.PredictRow(std::span<const float>(test.values.data() + r * width, width)), "predict");
    }
    sink = sink + xgb_out[0];
  });
  double compiled_batch_us = MicrosPerRow(args.reps, test.rows, [&] {
    compiled.PredictBatch(test.values.data(), static_cast<size_t>(test.rows), batch_out.data());
    sink = sink + batch_out[0];
  });
  std::vector<float> xgb_batch;
  double xgb_batch_us =
      MicrosPerRow(args.reps, test.rows, [&] { xgb_batch = Check(xgb.Predict(test), "predict"); });

  double max_diff = 0;
  for (int64_t r = 0; r < test.rows; ++r) {
    max_diff = std::max({max_diff, std::abs(static_cast<double>(compiled_out[r]) - xgb_out[r]),
                         std::abs(static_cast<double>(batch_out[r]) - xgb_batch[r])});
  }
  if (getloadavg(load, 3) < 0) load[0] = -1;
  std::printf("tree eval: compiled %.3f us/row, xgboost PredictFromDense %.2f us/row, ratio %.1fx\n",
              compiled_us, xgb_us, xgb_us / compiled_us);
  std::printf(
      "batch: compiled PredictBatch %.3f us/row, xgboost Predict (DMatrix) %.3f us/row, ratio %.1fx\n",
      compiled_batch_us, xgb_batch_us, xgb_batch_us / compiled_batch_us);
  std::printf("max |compiled - xgboost| %.3g over %lld rows; load average at the end %.2f\n", max_diff,
              static_cast<long long>(test.rows), load[0]);
  return max_diff <= 1e-6 ? 0 : 1;
}

}  // namespace
}  // namespace vigil::bench

int main(int argc, char** argv) {
  // One OpenMP thread for XGBoost unless the caller chose: libgomp reads the variable when
  // the program loads, so it must be in the environment before this process starts.
  if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    setenv("OMP_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    std::perror("vigil_tree_bench: re-executing with OMP_NUM_THREADS=1");  // then run as is
  }
  return vigil::bench::Main(argc, argv);
}
