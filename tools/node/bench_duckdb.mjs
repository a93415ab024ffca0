// The DuckDB side of `make bench` (DESIGN.md §8): the same events, the same features,
// computed with window functions by an independent engine, timed in the same run.
//
//   node tools/node/bench_duckdb.mjs SPEC.json [--reps 3] [--threads 1,default] [--print-sql]
//   node tools/node/bench_duckdb.mjs SPEC.json --verify DIR    (see Verify below)
//
// SPEC.json is what `vigil_bench --spec-out` writes: the project's sources (JSONL file,
// ts field, schema) and feature views. For each thread setting (a fresh in-memory
// database each; "default" leaves DuckDB's own choice, the machine's core count) and
// each repetition, per source:
//
//   load     read_json of the file with explicit columns and types into a table.
//   compute  for every view of the source, one query that computes every feature for
//            every event, as of the event's ts, and folds the outputs into a checksum
//            (count and bit_xor of a hash of every output column), so nothing is skipped.
//   e2e      load + compute of the same repetition.
//
// Lines "RESULT\tduckdb_<N>t|duckdb_default:<metric>\t<source>\t<events>\t<rows>\t<s1,s2,...>"
// are read by scripts/bench; the rest is for people.
//
// What the SQL computes, feature by feature (DESIGN.md §4):
//   windowed   agg(x) FILTER (WHERE where) OVER (PARTITION BY keys ORDER BY ts
//              RANGE BETWEEN w-1 PRECEDING AND CURRENT ROW): on integer ms that is the
//              window (t - w, t], events at t itself included (vigil's instant t).
//   lifetime   the same over the entity's ttl session (the oracle's construction in
//              tools/node/oracle.mjs): ROWS/RANGE from the session start.
//   last/first arg_max/arg_min(x, __pos) over non-null x; __pos is file order, which is
//              (ts, log order) because the files are checked to be sorted by ts (vigil
//              generate writes them so). The check also proves that no event is late.
//   count_distinct  count(DISTINCT x) as a window aggregate (DuckDB >= 1.1).
// vigil's output differs in shape: a changelog row at each instant where the tuple of a
// view changes (events and window expiries), where DuckDB gives one row per event.

import { readFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { FeaturesSql, Id, Str, kSqlTypes } from './sql_common.mjs';

function Fail(msg) {
  process.stderr.write(`bench_duckdb: ${msg}\n`);
  process.exit(1);
}

const Now = () => Number(process.hrtime.bigint()) / 1e9;


// FeaturesSql reduced to (rows, checksum), so that every output is computed and nothing
// but two numbers leaves DuckDB.
function ViewSql(view, src, ev) {
  const outs = [...view.keys.map(Id), Id(src.ts_field), ...view.features.map((f, i) => `__f${i}`)];
  return `SELECT count(*) AS n, bit_xor(hash(${outs.join(', ')})) AS h
          FROM (${FeaturesSql(view, src, ev)})`;
}

function LoadSql(src, table) {
  const cols = { [src.ts_field]: 'BIGINT' };
  for (const [f, t] of Object.entries(src.schema)) {
    if (!(t in kSqlTypes)) Fail(`field ${f}: unknown type ${t}`);
    cols[f] = kSqlTypes[t];
  }
  const struct = '{' + Object.entries(cols).map(([f, t]) => `${Str(f)}: ${Str(t)}`).join(', ') + '}';
  // row_number() OVER () numbers the rows in scan order, which DuckDB keeps as file order
  // (preserve_insertion_order, the default).
  return `CREATE OR REPLACE TABLE ${table} AS
          SELECT *, row_number() OVER () AS __pos
          FROM read_json(${Str(src.file)}, format = 'newline_delimited', columns = ${struct})`;
}

function Median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function Report(metric, source, events, rows, seconds) {
  const m = Median(seconds);
  process.stdout.write(
      `  ${metric.padEnd(22)} ${source.padEnd(16)} ${String(events).padStart(9)} events ` +
      `${String(rows).padStart(9)} rows  median ${m.toFixed(3).padStart(7)} s ` +
      `${(events / m / 1e6).toFixed(3).padStart(8)} M events/s  (${seconds.map((s) => s.toFixed(3)).join(' ')})\n`);
  process.stdout.write(`RESULT\t${metric}\t${source}\t${events}\t${rows}\t` +
                       `${seconds.map((s) => s.toFixed(6)).join(',')}\n`);
}

async function RunThreads(spec, threads, reps) {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  if (threads !== 'default') await conn.run(`SET threads = ${Number(threads)}`);
  const actual = (await conn.runAndReadAll("SELECT current_setting('threads')")).getRows()[0][0];
  const label = threads === 'default' ? 'duckdb_default' : `duckdb_${threads}t`;
  process.stdout.write(`${label}: DuckDB ${(await conn.runAndReadAll('SELECT version()')).getRows()[0][0]}` +
                       `, threads = ${actual}\n`);

  const sources = Object.entries(spec.sources);
  const viewsOf = (s) => Object.entries(spec.views).filter(([, v]) => v.source === s);
  const results = {};  // source -> {events, rows, load: [], compute: [], checks}
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, src] of sources) {
      if (viewsOf(name).length === 0) continue;
      const table = Id(`ev_${name}`);
      const r = (results[name] ??= { events: 0, rows: 0, load: [], compute: [], checks: null });
      let t0 = Now();
      await conn.run(LoadSql(src, table));
      r.load.push(Now() - t0);
      if (rep === 0) {
        // Untimed: the event count, and the order the last/first and late rules rely on.
        const ts = Id(src.ts_field);
        const chk = (await conn.runAndReadAll(
            `SELECT count(*), count(*) FILTER (WHERE ${ts} < __prev) FROM
               (SELECT ${ts}, lag(${ts}) OVER (ORDER BY __pos) AS __prev FROM ${table})`)).getRows()[0];
        r.events = Number(chk[0]);
        if (chk[1] !== 0n) Fail(`${src.file}: ${chk[1]} events out of ts order; the bench needs sorted files`);
      }
      t0 = Now();
      let rows = 0;
      const checks = [];
      for (const [, view] of viewsOf(name)) {
        const out = (await conn.runAndReadAll(ViewSql(view, src, table))).getRows()[0];
        rows += Number(out[0]);
        checks.push(String(out[1]));
      }
      r.compute.push(Now() - t0);
      r.rows = rows;
      const c = checks.join(',');
      if (r.checks !== null && r.checks !== c) Fail(`${name}: checksum differs between repetitions`);
      r.checks = c;
    }
  }
  for (const [name, r] of Object.entries(results)) {
    Report(`${label}:load`, name, r.events, 0, r.load);
    Report(`${label}:compute`, name, r.events, r.rows, r.compute);
    Report(`${label}:e2e`, name, r.events, r.rows, r.load.map((l, i) => l + r.compute[i]));
  }
  conn.closeSync();
  instance.closeSync?.();
}

// Checks that the features computed here are vigil's: for every event before the last
// allowed_lateness of its source (vigil emits rows only below the watermark), the value
// DuckDB computes equals the value of vigil's changelog as of the event's ts (its latest
// row with row.ts <= ts). `dir` holds <view>.csv for every view, as `vigil changelog VIEW`
// prints it. Doubles may differ by 1e-9 relative (summation order); nothing else may.
async function Verify(spec, dir) {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const loaded = new Set();
  let bad = 0;
  for (const [vname, view] of Object.entries(spec.views)) {
    const src = spec.sources[view.source];
    const table = Id(`ev_${view.source}`);
    if (!loaded.has(view.source)) {
      await conn.run(LoadSql(src, table));
      loaded.add(view.source);
    }
    const ts = Id(src.ts_field);
    await conn.run(`CREATE OR REPLACE TEMP TABLE d AS ${FeaturesSql(view, src, table)}`);
    await conn.run(`CREATE OR REPLACE TEMP TABLE cl AS
                    SELECT *, "ts"::BIGINT AS __cts
                    FROM read_csv(${Str(`${dir}/${vname}.csv`)}, header = true, all_varchar = true)`);
    const num = (x) => `try_cast(${x} AS DOUBLE)`;
    const diffs = view.features.map((f, i) => {
      const a = `d.__f${i}`;
      const b = `cl.${Id(f.name)}`;
      const same = `((${a} IS NULL AND coalesce(${b}, '') = '') OR ${a}::VARCHAR = ${b}
                     OR abs(${num(a)} - ${num(b)}) <= 1e-9 * greatest(1, abs(${num(b)})))`;
      return `count(*) FILTER (WHERE NOT coalesce(${same}, false))`;
    });
    const final = `(SELECT max(${ts}) - ${BigInt(src.allowed_lateness_ms ?? 0)} FROM d)`;
    const row = (await conn.runAndReadAll(`
        SELECT count(*), count(cl.__cts), ${diffs.join(', ')}
        FROM (SELECT * FROM d WHERE ${ts} < ${final}) d
        ASOF LEFT JOIN cl ON ${view.keys.map((k) => `d.${Id(k)} = cl.${Id(k)}`).join(' AND ')}
                         AND d.${ts} >= cl.__cts`)).getRows()[0].map(Number);
    const [events, matched, ...perFeature] = row;
    const wrong = view.features.map((f, i) => [f.name, perFeature[i]]).filter(([, n]) => n > 0);
    const ok = matched === events && wrong.length === 0;
    if (!ok) bad++;
    process.stdout.write(`verify ${vname}: ${events} events, ${events - matched} without a vigil row, ` +
                         `${wrong.length ? wrong.map(([n, k]) => `${n}: ${k} differ`).join(', ') : 'all features equal'}\n`);
  }
  conn.closeSync();
  if (bad > 0) Fail(`${bad} view(s) differ between vigil and DuckDB`);
}

async function Main() {
  const args = process.argv.slice(2);
  let specPath = null;
  let reps = 3;
  let threads = ['1', 'default'];
  let printSql = false;  // prints the queries instead of running them
  let verifyDir = null;  // compares with vigil's changelogs instead of timing
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--reps') reps = Number(args[++i]);
    else if (args[i] === '--threads') threads = args[++i].split(',');
    else if (args[i] === '--print-sql') printSql = true;
    else if (args[i] === '--verify') verifyDir = args[++i];
    else specPath = args[i];
  }
  if (!specPath) {
    Fail('usage: node bench_duckdb.mjs SPEC.json [--reps N] [--threads 1,default] [--print-sql] [--verify DIR]');
  }
  const spec = JSON.parse(readFileSync(specPath, 'utf8'));
  if (verifyDir) return Verify(spec, verifyDir);
  if (printSql) {
    for (const [name, view] of Object.entries(spec.views)) {
      const src = spec.sources[view.source];
      process.stdout.write(`-- ${name}\n${LoadSql(src, Id(`ev_${view.source}`))};\n` +
                           `${ViewSql(view, src, Id(`ev_${view.source}`))};\n\n`);
    }
    return;
  }
  for (const t of threads) await RunThreads(spec, t, reps);
}

await Main().catch((e) => Fail(e?.stack ?? String(e)));
