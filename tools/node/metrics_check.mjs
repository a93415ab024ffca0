// Binary-classification metrics computed by DuckDB in SQL, straight from their textbook
// definitions, as the independent check of src/training/metrics.h (used by
// tests/metrics_duckdb_test.cc).
//
//   node tools/node/metrics_check.mjs SCORES.csv
//
// SCORES.csv has a header and the columns score (DOUBLE) and label (0 or 1). Prints one
// JSON object: {"rows", "positives", "roc_auc", "pr_auc", "log_loss"}, doubles in shortest
// round-trip form, null where undefined (one class only, no rows).
//
//  * roc_auc: the Mann-Whitney U statistic, (sum of the positives' average ranks -
//    P(P+1)/2) / (P N), with tied scores sharing the average of their ranks.
//  * pr_auc: average precision as scikit-learn defines it: over the distinct scores as
//    thresholds, from high to low, sum of (R_n - R_{n-1}) P_n.
//  * log_loss: mean of -(y ln s + (1 - y) ln(1 - s)), s clipped to [1e-15, 1 - 1e-15].

import { DuckDBInstance } from '@duckdb/node-api';
import { Str } from './sql_common.mjs';

function Fail(msg) {
  process.stderr.write(`metrics_check: ${msg}\n`);
  process.exit(1);
}

const Plain = (v) => (typeof v === 'bigint' ? Number(v) : v);

async function Main() {
  const [csvPath] = process.argv.slice(2);
  if (!csvPath) Fail('usage: node metrics_check.mjs SCORES.csv');
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run(`CREATE TABLE t AS
      SELECT score AS s, label AS y
      FROM read_csv(${Str(csvPath)}, header = true, columns = {'score': 'DOUBLE', 'label': 'INTEGER'})`);
  const bad = (await conn.runAndReadAll('SELECT count(*) FROM t WHERE y NOT IN (0, 1) OR y IS NULL OR s IS NULL'))
    .getRows()[0][0];
  if (Plain(bad) !== 0) Fail(`${csvPath}: ${bad} rows with a null score or a label other than 0/1`);

  const reader = await conn.runAndReadAll(`
    WITH
    pn AS (SELECT count(*) AS rows, sum(y)::BIGINT AS p, (count(*) - sum(y))::DOUBLE AS n FROM t),
    -- average rank of each score: rank() is the first (1-based) rank of its tie group
    ranked AS (
      SELECT y, rank() OVER (ORDER BY s)::DOUBLE + (count(*) OVER (PARTITION BY s) - 1)::DOUBLE / 2 AS r
      FROM t),
    auc AS (
      SELECT (sum(r) FILTER (WHERE y = 1) - pn.p::DOUBLE * (pn.p + 1) / 2) / (pn.p::DOUBLE * pn.n) AS v
      FROM ranked, pn
      WHERE pn.p > 0 AND pn.n > 0
      GROUP BY pn.p, pn.n),
    -- one row per distinct score (threshold), cumulated from the highest down
    thresholds AS (SELECT s, sum(y)::DOUBLE AS tp_here, count(*)::DOUBLE AS rows_here FROM t GROUP BY s),
    curve AS (
      SELECT s,
             sum(tp_here) OVER (ORDER BY s DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) / pn.p AS recall,
             sum(tp_here) OVER (ORDER BY s DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
               / sum(rows_here) OVER (ORDER BY s DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS precision
      FROM thresholds, pn
      WHERE pn.p > 0),
    steps AS (SELECT recall - lag(recall, 1, 0) OVER (ORDER BY s DESC) AS dr, precision FROM curve),
    ap AS (SELECT sum(dr * precision) AS v FROM steps),
    ll AS (
      SELECT avg(CASE WHEN y = 1 THEN -ln(c) ELSE -ln(1 - c) END) AS v
      FROM (SELECT y, greatest(least(s, 1 - 1e-15::DOUBLE), 1e-15::DOUBLE) AS c FROM t))
    SELECT pn.rows, pn.p, (SELECT v FROM auc), (SELECT v FROM ap), (SELECT v FROM ll) FROM pn`);
  const [rows, positives, rocAuc, prAuc, logLoss] = reader.getRows()[0].map(Plain);
  process.stdout.write(
    JSON.stringify({ rows, positives: positives ?? 0, roc_auc: rocAuc, pr_auc: prAuc, log_loss: logLoss }) + '\n');
  conn.closeSync();
}

await Main().catch((e) => Fail(e?.stack ?? String(e)));
