// The point-in-time oracle: computes, with DuckDB SQL and independently of vigil, the
// feature values `vigil dataset` must produce for a label file (DESIGN.md §4).
//
//   node tools/node/oracle.mjs SPEC.json OUT.csv
//
// SPEC.json describes the sources (their event files, in log order), the feature views
// and the label file; relative paths are resolved against the directory of SPEC.json:
//
//   { "sources": {"txn": {"files": ["a.jsonl", "b.csv"], "ts_field": "ts",
//                         "allowed_lateness_ms": 2000,
//                         "schema": {"user_id": "string", "amount": "double"}}},
//     "views": {"v1": {"source": "txn", "keys": ["user_id"], "ttl_ms": 86400000,
//                      "features": [{"name": "c1h", "agg": "count", "field": null,
//                                    "window_ms": 3600000, "where": "amount > 10"}]}},
//     "labels": "labels.csv", "ts_column": "ts", "features": ["v1"] }
//
// The contract it encodes, deliberately written as plain SQL over the whole event history
// rather than as a streaming algorithm, so that it shares no structure with vigil:
//
//  * Log order is file order, then line order. Event i is late, and dropped, iff
//    ts_i < max(ts_j, j < i) - allowed_lateness (the watermark when it arrived).
//  * A label (keys, t) reads every view as of a = t - 1 ms.
//  * ttl: with L the entity's latest accepted event with ts <= a (any `where`), every
//    feature is empty when there is no such event or L + ttl <= a. The effective ttl is
//    the view's, else its longest window, else infinite when it has a lifetime feature.
//  * A windowed feature aggregates the events with a - window < ts <= a that pass `where`
//    (a `where` that is null is false).
//  * A lifetime feature aggregates the events since the entity's latest session start
//    <= a, a session start being an event whose predecessor (in (ts, log order)) is at
//    least ttl older, or that has none: the entity was dropped in between and started over.
//    With ttl 1h, events at 10:00, 10:30, 12:00 and 12:10 of one entity:
//      as of 10:45 -> {10:00, 10:30}    as of 11:45 -> empty (dropped at 11:30)
//      as of 12:15 -> {12:00, 12:10}    (12:00 starts a session: 10:30 + 1h <= 12:00)
//  * Empty: count, count_distinct and sum give 0, the others null. Nulls in the field are
//    skipped; last / first take the non-null value with the highest / lowest (ts, log order).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EffectiveTtl, Id, Str, kSqlTypes } from './sql_common.mjs';

const kAggs = new Set(['count', 'sum', 'avg', 'min', 'max', 'stddev', 'count_distinct', 'last',
                       'first']);

function Fail(msg) {
  process.stderr.write(`oracle: ${msg}\n`);
  process.exit(1);
}


// RFC 4180: fields separated by commas, optionally quoted with "" as an escaped quote;
// records end at LF or CRLF. Returns rows of strings; a final empty line is not a row.
export function ParseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let i = 0;
  let quoted = false;
  let any = false;  // the current row has content (so a blank last line is not a row)
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      cell += c;
      i++;
      continue;
    }
    if (c === '"') {
      quoted = true;
      any = true;
      i++;
    } else if (c === ',') {
      row.push(cell);
      cell = '';
      any = true;
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      i++;
    } else if (c === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      any = false;
      i++;
    } else {
      cell += c;
      any = true;
      i++;
    }
  }
  if (quoted) throw new Error('unterminated quoted CSV field');
  if (any) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

function CsvCell(s) {
  return /[",\r\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s;
}

// The text of a feature value in vigil's CSV: null empty, integers as integers, doubles in
// shortest round-trip form, bools true/false, strings raw (quoted when needed).
function FormatValue(v) {
  if (v === null || v === undefined) return '';
  switch (typeof v) {
    case 'bigint': return v.toString();
    case 'number':
      if (!Number.isFinite(v)) Fail(`non-finite feature value ${v}`);
      return String(v);
    case 'boolean': return v ? 'true' : 'false';
    case 'string': return CsvCell(v);
    default: Fail(`unexpected value ${String(v)} of type ${typeof v}`);
  }
}

// int64 ms since the epoch from a timestamp's text: an integer, or ISO-8601 with a zone
// (fractions beyond milliseconds truncated).
function TsSql(textExpr) {
  return `CASE WHEN regexp_full_match(trim(${textExpr}), '-?[0-9]+') ` +
         `THEN trim(${textExpr})::BIGINT ` +
         `ELSE epoch_ms(trim(${textExpr})::TIMESTAMPTZ) END`;
}

function FieldSql(textExpr, type) {
  if (type === 'timestamp') return TsSql(textExpr);
  return `(${textExpr})::${kSqlTypes[type]}`;
}

async function LoadSource(conn, baseDir, name, src, index) {
  const schema = src.schema ?? {};
  const fields = Object.keys(schema);
  for (const f of fields) {
    if (!(schema[f] in kSqlTypes)) Fail(`source ${name}: field ${f} has unknown type ${schema[f]}`);
  }
  const tsField = src.ts_field;
  if (!tsField) Fail(`source ${name} needs ts_field`);
  const lateness = BigInt(src.allowed_lateness_ms ?? 0);

  // Stage the raw text: JSON lines whole (DuckDB parses them), CSV cells per field.
  const rawJson = `raw_json_${index}`;
  const rawCsv = `raw_csv_${index}`;
  await conn.run(`CREATE TEMP TABLE ${rawJson} (__pos BIGINT, __line VARCHAR)`);
  await conn.run(`CREATE TEMP TABLE ${rawCsv} (__pos BIGINT, __ts_text VARCHAR` +
                 fields.map((f, i) => `, __c${i} VARCHAR`).join('') + ')');
  const ja = await conn.createAppender(rawJson);
  const ca = await conn.createAppender(rawCsv);
  let pos = 0n;
  for (const file of src.files ?? []) {
    const path = isAbsolute(file) ? file : resolve(baseDir, file);
    const text = readFileSync(path, 'utf8');
    if (/\.csv$/i.test(path)) {
      const rows = ParseCsv(text);
      if (rows.length === 0) continue;
      const header = rows[0];
      const col = (f) => header.indexOf(f);
      const tsCol = col(tsField);
      if (tsCol < 0) Fail(`${path}: no column ${tsField}`);
      const fieldCols = fields.map(col);
      for (let r = 1; r < rows.length; r++) {
        const row = rows[r];
        ca.appendBigInt(pos++);
        ca.appendVarchar(row[tsCol] ?? '');
        for (const c of fieldCols) {
          const cell = c >= 0 ? row[c] : undefined;
          // An empty CSV cell is null, whatever the field's type.
          if (cell === undefined || cell === '') ca.appendNull();
          else ca.appendVarchar(cell);
        }
        ca.endRow();
      }
    } else {
      for (let line of text.split('\n')) {
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line.trim() === '') continue;
        ja.appendBigInt(pos++);
        ja.appendVarchar(line);
        ja.endRow();
      }
    }
  }
  ja.closeSync();
  ca.closeSync();

  const jsonPath = (f) => Str('$."' + f.replaceAll('"', '\\"') + '"');
  const fromJson = `SELECT __pos, ${TsSql(`__j->>${jsonPath(tsField)}`)} AS __ts` +
      fields.map((f) => `, ${FieldSql(`__j->>${jsonPath(f)}`, schema[f])} AS ${Id(f)}`).join('') +
      ` FROM (SELECT __pos, __line::JSON AS __j FROM ${rawJson})`;
  const fromCsv = `SELECT __pos, ${TsSql('__ts_text')} AS __ts` +
      fields.map((f, i) => `, ${FieldSql(`__c${i}`, schema[f])} AS ${Id(f)}`).join('') +
      ` FROM ${rawCsv}`;
  // Late: below the watermark (highest ts so far minus allowed lateness) when it arrived.
  const table = `ev_${index}`;
  await conn.run(`
    CREATE TEMP TABLE ${table} AS
    SELECT *, coalesce(__ts < max(__ts) OVER (ORDER BY __pos ROWS BETWEEN UNBOUNDED PRECEDING
                                               AND 1 PRECEDING) - ${lateness}, false) AS __late
    FROM (${fromJson} UNION ALL ${fromCsv})`);
  const nulls = await conn.runAndReadAll(`SELECT count(*) FROM ${table} WHERE __ts IS NULL`);
  if (nulls.getRows()[0][0] !== 0n) Fail(`source ${name}: events without a timestamp`);
  return table;
}

// The aggregate of feature `f` over the joined events e that satisfy `cond`.
function AggSql(f, fieldType, cond) {
  const fld = f.field ? `e.${Id(f.field)}` : null;
  if (f.agg !== 'count' && !fld) Fail(`feature ${f.name}: agg ${f.agg} needs a field`);
  const flt = (extra) => ` FILTER (WHERE ${cond}${extra ? ' AND ' + extra : ''})`;
  switch (f.agg) {
    case 'count': return fld ? `count(${fld})${flt()}` : `count(e.__pos)${flt()}`;
    case 'sum':
      return fieldType === 'double' ? `coalesce(fsum(${fld})${flt()}, 0.0::DOUBLE)`
                                    : `coalesce(sum(${fld})${flt()}, 0)`;
    case 'avg': return fieldType === 'double' ? `favg(${fld})${flt()}` : `avg(${fld})${flt()}`;
    case 'min': return `min(${fld})${flt()}`;
    case 'max': return `max(${fld})${flt()}`;
    case 'stddev': return `stddev_pop(${fld})${flt()}`;
    case 'count_distinct': return `count(DISTINCT ${fld})${flt()}`;
    case 'last': return `arg_max(${fld}, e.__ord)${flt(`${fld} IS NOT NULL`)}`;
    case 'first': return `arg_min(${fld}, e.__ord)${flt(`${fld} IS NOT NULL`)}`;
  }
  Fail(`unknown agg ${f.agg}`);
}

async function ComputeView(conn, vname, view, sources, srcTables, labelKeyCols, nLabels) {
  const src = sources[view.source];
  if (!src) Fail(`view ${vname}: unknown source ${view.source}`);
  const schema = src.schema ?? {};
  const keys = view.keys ?? [];
  if (keys.length === 0) Fail(`view ${vname} needs keys`);
  for (const k of keys) {
    if (!(k in schema)) Fail(`view ${vname}: key ${k} is not a field of ${view.source}`);
  }
  for (const f of view.features) {
    if (!kAggs.has(f.agg)) Fail(`view ${vname}: unknown agg ${f.agg}`);
    if (f.field && !(f.field in schema)) Fail(`view ${vname}: unknown field ${f.field}`);
  }
  const ttl = EffectiveTtl(view);
  const ev = srcTables[view.source];
  const acc = `acc_${vname.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const ek = keys.map((k, i) => `__k${i}`);
  const part = ek.join(', ');

  // The view's accepted events: keys as text, the where of each feature as a flag, and
  // the ts of the session (see the header) each event belongs to.
  const flags = view.features
      .map((f, i) => `, ${f.where ? `coalesce((${f.where}), false)` : 'true'} AS __w${i}`)
      .join('');
  const starts = ttl === null ? '__prev IS NULL' : `__prev IS NULL OR __prev + ${ttl} <= __ts`;
  await conn.run(`
    CREATE TEMP TABLE ${acc} AS
    SELECT *, max(CASE WHEN ${starts} THEN __ts END) OVER (
                  PARTITION BY ${part} ORDER BY __ts, __pos ROWS UNBOUNDED PRECEDING) AS __sess
    FROM (
      SELECT *, lag(__ts) OVER (PARTITION BY ${part} ORDER BY __ts, __pos) AS __prev
      FROM (
        SELECT *, ${keys.map((k, i) => `${Id(k)}::VARCHAR AS __k${i}`).join(', ')}${flags},
               row_number() OVER (ORDER BY __ts, __pos) AS __ord
        FROM ${ev}
        WHERE NOT __late ${keys.map((k) => `AND ${Id(k)} IS NOT NULL`).join(' ')}))`);

  // One range join per distinct window (and one for the lifetime features): each label
  // meets only the events its window can hold.
  const groups = new Map();  // window ms as text, or 'life' -> feature indexes
  view.features.forEach((f, i) => {
    const lifetime = f.window_ms === null || f.window_ms === undefined;
    const g = lifetime ? 'life' : String(BigInt(f.window_ms));
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(i);
  });
  const lk = keys.map((k) => labelKeyCols.get(k));
  await conn.run(`
    CREATE OR REPLACE TEMP TABLE live AS
    WITH asof_last AS (
      SELECT l.__lid, l.__a, ${lk.map((c, i) => `l.${c} AS __k${i}`).join(', ')},
             m.__ts AS __last_ts, m.__sess AS __s
      FROM labels l ASOF LEFT JOIN ${acc} m
        ON ${lk.map((c, i) => `l.${c} = m.__k${i}`).join(' AND ')} AND l.__a >= m.__ts)
    SELECT *, (__last_ts IS NOT NULL ${ttl === null ? '' : `AND __last_ts + ${ttl} > __a`})
              AS __live
    FROM asof_last`);
  const values = Array.from({ length: nLabels }, () => new Array(view.features.length));
  for (const [g, idx] of groups) {
    const range = g === 'life' ? 'e.__ts >= l.__s' : `e.__ts > l.__a - ${g}`;
    // A dead entity (ttl) is a filter of every aggregate rather than a join condition: a
    // condition on the labels alone in ON makes DuckDB join by blockwise nested loop
    // (every label against every event) instead of hashing the keys, ~8x slower.
    const aggs = idx.map((i) => {
      const f = view.features[i];
      return AggSql(f, f.field ? schema[f.field] : null, `l.__live AND e.__w${i}`);
    });
    const sql = `
      SELECT l.__lid, ${aggs.join(',\n             ')}
      FROM live l LEFT JOIN ${acc} e
        ON ${ek.map((k) => `e.${k} = l.${k}`).join(' AND ')}
           AND e.__ts <= l.__a AND ${range}
      GROUP BY l.__lid
      ORDER BY l.__lid`;
    const rows = (await conn.runAndReadAll(sql)).getRows();
    if (rows.length !== nLabels) {
      Fail(`view ${vname}: ${rows.length} result rows for ${nLabels} labels`);
    }
    rows.forEach((r, lid) => {
      if (Number(r[0]) !== lid) Fail(`view ${vname}: result row ${lid} is label ${r[0]}`);
      idx.forEach((i, k) => { values[lid][i] = r[k + 1]; });
    });
  }
  return values;
}

async function Main() {
  const [specPath, outPath] = process.argv.slice(2);
  if (!specPath || !outPath) Fail('usage: node oracle.mjs SPEC.json OUT.csv');
  const spec = JSON.parse(readFileSync(specPath, 'utf8'));
  const baseDir = dirname(resolve(specPath));
  const at = (p) => (isAbsolute(p) ? p : resolve(baseDir, p));

  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run("SET TimeZone = 'UTC'");

  const viewNames = spec.features ?? [];
  for (const v of viewNames) if (!spec.views?.[v]) Fail(`unknown view ${v}`);
  const srcTables = {};
  let index = 0;
  for (const s of new Set(viewNames.map((v) => spec.views[v].source))) {
    if (!spec.sources?.[s]) Fail(`unknown source ${s}`);
    srcTables[s] = await LoadSource(conn, baseDir, s, spec.sources[s], index++);
  }

  // Labels: every cell as text, kept verbatim for the output.
  const labelRows = ParseCsv(readFileSync(at(spec.labels), 'utf8'));
  if (labelRows.length === 0) Fail('the label file has no header');
  const header = labelRows[0];
  const labels = labelRows.slice(1);
  const tsCol = header.indexOf(spec.ts_column ?? 'ts');
  if (tsCol < 0) Fail(`the label file has no column ${spec.ts_column ?? 'ts'}`);
  const keyNames = [...new Set(viewNames.flatMap((v) => spec.views[v].keys))];
  const labelKeyCols = new Map(keyNames.map((k, i) => [k, `__lk${i}`]));
  const keyIdx = keyNames.map((k) => {
    const c = header.indexOf(k);
    if (c < 0) Fail(`the label file has no key column ${k}`);
    return c;
  });
  await conn.run(`CREATE TEMP TABLE labels_raw (__lid BIGINT, __ts_text VARCHAR` +
                 keyNames.map((k, i) => `, __lk${i} VARCHAR`).join('') + ')');
  const la = await conn.createAppender('labels_raw');
  labels.forEach((row, i) => {
    la.appendBigInt(BigInt(i));
    la.appendVarchar(row[tsCol] ?? '');
    for (const c of keyIdx) {
      const cell = row[c] ?? '';
      if (cell === '') la.appendNull();  // an empty key matches no entity
      else la.appendVarchar(cell);
    }
    la.endRow();
  });
  la.closeSync();
  await conn.run(`CREATE TEMP TABLE labels AS
                  SELECT *, ${TsSql('__ts_text')} - 1 AS __a FROM labels_raw`);
  const bad = await conn.runAndReadAll('SELECT min(__lid) FROM labels WHERE __a IS NULL');
  if (bad.getRows()[0][0] !== null) Fail(`label row ${bad.getRows()[0][0]} has no timestamp`);

  const outHeader = [...header];
  const perView = [];
  for (const v of viewNames) {
    const view = spec.views[v];
    for (const f of view.features) outHeader.push(`${v}__${f.name}`);
    perView.push(await ComputeView(conn, v, view, spec.sources, srcTables, labelKeyCols,
                                   labels.length));
  }

  const lines = [outHeader.map(CsvCell).join(',')];
  labels.forEach((row, i) => {
    const cells = header.map((_, c) => CsvCell(row[c] ?? ''));
    for (const values of perView) for (const x of values[i]) cells.push(FormatValue(x));
    lines.push(cells.join(','));
  });
  writeFileSync(outPath, lines.join('\n') + '\n');
  conn.closeSync();
}

await Main().catch((e) => Fail(e?.stack ?? String(e)));
