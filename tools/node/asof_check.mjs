// The point-in-time join of `vigil dataset`, computed by DuckDB from the changelog topics:
// the labels ASOF LEFT JOIN each view's changelog (as `vigil changelog VIEW --out x.csv`
// prints it) ON the entity keys AND changelog.ts <= label.ts - 1, taking the latest row.
// It checks the join (which rows a label reads, the empty tuple where there is none) at a
// scale the feature oracle (oracle.mjs, which recomputes every feature per label) cannot
// reach; the changelog itself is checked against the batch replay by the stream/batch
// identity tests. Used by tests/offline_dataset_test.cc.
//
//   node tools/node/asof_check.mjs SPEC.json LABELS.csv OUT.csv VIEW=CHANGELOG.csv [...]
//
// SPEC.json is the oracle's (views, their keys, features and source schemas; the label
// file named there is ignored: LABELS.csv is read). OUT.csv is `vigil dataset`'s layout:
// the label columns verbatim, then VIEW__FEATURE per view in argument order, in label
// order. Values are the changelog's text, untouched. A label with an empty key cell, or
// with no changelog row at or before ts - 1, gets the view's empty tuple (DESIGN.md §4,
// ViewPlan::empty_tuple): 0 for count, count_distinct and sum, empty (null) otherwise.
// Timestamps: integer ms, or ISO-8601 with a zone.

import { readFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { Id, Str } from './sql_common.mjs';

function Fail(msg) {
  process.stderr.write(`asof_check: ${msg}\n`);
  process.exit(1);
}

// int64 ms from a timestamp's text (as oracle.mjs).
function TsSql(x) {
  return `CASE WHEN regexp_full_match(trim(${x}), '-?[0-9]+') THEN trim(${x})::BIGINT ` +
         `ELSE epoch_ms(trim(${x})::TIMESTAMPTZ) END`;
}

// Every cell as text, null for an empty cell; RFC 4180 quoting.
const ReadCsv = (path) =>
  `read_csv(${Str(path)}, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"')`;

async function Main() {
  const [specPath, labelsPath, outPath, ...pairs] = process.argv.slice(2);
  if (!specPath || !labelsPath || !outPath || pairs.length === 0) {
    Fail('usage: node asof_check.mjs SPEC.json LABELS.csv OUT.csv VIEW=CHANGELOG.csv [...]');
  }
  const spec = JSON.parse(readFileSync(specPath, 'utf8'));
  const tsColumn = spec.ts_column ?? 'ts';
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run("SET TimeZone = 'UTC'");
  await conn.run('SET preserve_insertion_order = true');

  // The labels in file order: rowid of a table filled in insertion order.
  await conn.run(`CREATE TABLE labels_raw AS SELECT * FROM ${ReadCsv(labelsPath)}`);
  const header = (await conn.runAndReadAll('DESCRIBE labels_raw')).getRows().map((r) => String(r[0]));
  if (!header.includes(tsColumn)) Fail(`${labelsPath}: no column ${tsColumn}`);
  await conn.run(`CREATE TABLE labels AS
                  SELECT rowid AS __lid, *, ${TsSql(`${Id(tsColumn)}`)} - 1 AS __a FROM labels_raw`);
  const bad = (await conn.runAndReadAll('SELECT min(__lid) FROM labels WHERE __a IS NULL')).getRows();
  if (bad[0][0] !== null) Fail(`label row ${bad[0][0]} has no timestamp`);

  const cols = header.map((h) => `l.${Id(h)}`);
  const joins = [];
  pairs.forEach((pair, i) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) Fail(`expected VIEW=CHANGELOG.csv, got ${pair}`);
    const vname = pair.slice(0, eq);
    const view = spec.views?.[vname];
    if (!view) Fail(`unknown view ${vname}`);
    const schema = spec.sources?.[view.source]?.schema ?? Fail(`view ${vname}: unknown source ${view.source}`);
    for (const k of view.keys) if (!header.includes(k)) Fail(`${labelsPath}: no key column ${k}`);
    const c = `c${i}`;
    // One row per (entity, ts): a row's identity (the same row written twice is one).
    joins.push(`ASOF LEFT JOIN (
        SELECT DISTINCT ON (${view.keys.map(Id).join(', ')}, __ts) *
        FROM (SELECT *, ${Id('ts')}::BIGINT AS __ts FROM ${ReadCsv(pair.slice(eq + 1))})) ${c}
      ON ${view.keys.map((k) => `l.${Id(k)} = ${c}.${Id(k)}`).join(' AND ')} AND l.__a >= ${c}.__ts`);
    for (const f of view.features) {
      const v = `${c}.${Id(f.name)}`;
      let e = v;
      if (f.agg === 'count' || f.agg === 'count_distinct') e = `coalesce(${v}, '0')`;
      else if (f.agg === 'sum') e = `coalesce(${v}, ${schema[f.field] === 'double' ? "'0.0'" : "'0'"})`;
      cols.push(`${e} AS ${Id(`${vname}__${f.name}`)}`);
    }
  });
  await conn.run(`COPY (
      SELECT ${cols.join(', ')}
      FROM labels l
      ${joins.join('\n      ')}
      ORDER BY l.__lid
    ) TO ${Str(outPath)} (FORMAT csv, HEADER true)`);
  conn.closeSync();
}

await Main().catch((e) => Fail(e?.stack ?? String(e)));
