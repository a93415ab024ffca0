// The DuckDB side of the offline benchmark in `make bench` (issue 4, DESIGN.md §8): the
// same history, read from the same Parquet files of vigil's offline store, computed by an
// independent engine and timed in the same run.
//
//   node tools/node/bench_offline.mjs backfill SPEC.json --offline DIR [--reps 3] [--threads 1,default]
//   node tools/node/bench_offline.mjs backfill-verify SPEC.json --offline DIR --bounds V=MS,...
//   node tools/node/bench_offline.mjs labels SPEC.json --offline DIR --n N --seed S --out FILE.csv
//   node tools/node/bench_offline.mjs dataset SPEC.json --offline DIR --labels FILE.csv --views V,...
//                                     --out-dir DIR [--reps 3] [--threads 1,default]
//   node tools/node/bench_offline.mjs dataset-verify SPEC.json --labels FILE.csv --views V,...
//                                     --vigil OUT.parquet --duckdb OUT.parquet
//
// SPEC.json is what `vigil_bench --spec-out` writes (sources, views, features). Each thread
// setting gets a fresh in-memory database ("default" leaves DuckDB's own choice).
//
// backfill   the peer of `vigil backfill VIEW`: per view, one query over the source's
//            archived events, read_parquet('<offline>/events/<source>/**/*.parquet',
//            hive_partitioning = true) WHERE NOT _late, computing every feature for every
//            event with window functions (the SQL of bench_duckdb.mjs, adapted below),
//            folded into a checksum (count and bit_xor of a hash of every output).
//            Lines "RESULT\tduckdb_<N>t|duckdb_default:backfill\t<view>\t<events>\t<rows>\t<s1,...>".
// backfill-verify  for every event with ts below the view's backfill bound, DuckDB's value
//            of every feature equals the value of vigil's backfilled changelog
//            (<features dir>/**/backfill-*.parquet) as of the event's ts (ASOF join).
// labels     a label CSV (user_id, device_id, ts, label): N logins events drawn at random
//            (a hash of the seed and the event's log position), ts moved forward by up to
//            a day, 1 in 20 user_ids replaced by an id no event has; every ts at least a
//            day before the history's end, so below the offline changelog's coverage.
// dataset    the peer of `vigil dataset`: the labels ASOF LEFT JOIN each view's offline
//            changelog (read_parquet('<offline>/features/<view>/version=*/**/*.parquet'))
//            ON the keys AND changelog.ts <= label.ts - 1, in label order, written as
//            Parquet (vigil writes its output too). Where no row matches, count, sum and
//            count_distinct are 0, as vigil's empty tuple (DESIGN.md §4).
//            Lines "RESULT\t...:dataset\ttotal\t<labels>\t<labels>\t<s1,...>".
// dataset-verify  both outputs, row by row in label order: every column equal (doubles to
//            1e-9 relative).
//
// Differences to bench_duckdb.mjs, whose feature SQL this shares (sql_common.mjs): the
// events come from Parquet, where ts may be a TIMESTAMP
// (turned into epoch ms), and last/first break ties of equal ts by log order (the
// archive's _partition, _offset: vigil's EventSeq) rather than by file line.

import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync } from 'node:fs';
import { FeaturesSql, Id, Str } from './sql_common.mjs';

function Fail(msg) {
  process.stderr.write(`bench_offline: ${msg}\n`);
  process.exit(1);
}

const Now = () => Number(process.hrtime.bigint()) / 1e9;

function Median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// The archived events of `src`, accepted ones only, with ts as epoch ms and __pos the
// (ts, log order) position: ts in the high 64 bits, EventSeq (partition << 40 | offset)
// in the low ones.
function EventsSql(src, offline, tsIsTimestamp) {
  const ts = Id(src.ts_field);
  const ms = tsIsTimestamp ? `epoch_ms(${ts})` : `${ts}::BIGINT`;
  const fields = Object.keys(src.schema).filter((f) => f !== src.ts_field).map(Id);
  return `(SELECT ${ms} AS ${ts}, ${fields.join(', ')},
                  (${ms}::HUGEINT << 64) + (_partition::HUGEINT << 40) + _offset AS __pos
           FROM read_parquet(${Str(`${offline}/events/${src.name}/**/*.parquet`)}, hive_partitioning = true)
           WHERE NOT _late)`;
}


function ChecksumSql(view, src, ev) {
  const outs = [...view.keys.map(Id), Id(src.ts_field), ...view.features.map((f, i) => `__f${i}`)];
  return `SELECT count(*) AS n, bit_xor(hash(${outs.join(', ')})) AS h FROM (${FeaturesSql(view, src, ev)})`;
}

async function Open(threads) {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  if (threads !== 'default') await conn.run(`SET threads = ${Number(threads)}`);
  const actual = (await conn.runAndReadAll("SELECT current_setting('threads')")).getRows()[0][0];
  const version = (await conn.runAndReadAll('SELECT version()')).getRows()[0][0];
  const label = threads === 'default' ? 'duckdb_default' : `duckdb_${threads}t`;
  return { instance, conn, label, note: `${label}: DuckDB ${version}, threads = ${actual}` };
}

const Rows = async (conn, sql) => (await conn.runAndReadAll(sql)).getRows();

// Whether the archive stores the source's ts as a Parquet TIMESTAMP (else an integer).
async function TsIsTimestamp(conn, src, glob) {
  const rows = await Rows(conn, `DESCRIBE SELECT ${Id(src.ts_field)} FROM read_parquet(${Str(glob)}, hive_partitioning = true)`);
  return String(rows[0][1]).startsWith('TIMESTAMP');
}

function Report(metric, name, events, rows, seconds) {
  const m = Median(seconds);
  process.stdout.write(
      `  ${metric.padEnd(24)} ${name.padEnd(20)} ${String(events).padStart(9)} in ${String(rows).padStart(9)} out` +
      `  median ${m.toFixed(3).padStart(8)} s  (${seconds.map((s) => s.toFixed(3)).join(' ')})\n`);
  process.stdout.write(`RESULT\t${metric}\t${name}\t${events}\t${rows}\t${seconds.map((s) => s.toFixed(6)).join(',')}\n`);
}

function Sources(spec) {
  for (const [name, src] of Object.entries(spec.sources)) src.name = name;
  return spec.sources;
}

async function Backfill(spec, offline, threadsList, reps) {
  const sources = Sources(spec);
  for (const threads of threadsList) {
    const { instance, conn, label, note } = await Open(threads);
    process.stdout.write(`${note}\n`);
    const tsTypes = {};
    const results = {};
    for (let rep = 0; rep < reps; rep++) {
      for (const [vname, view] of Object.entries(spec.views)) {
        const src = sources[view.source];
        tsTypes[src.name] ??= await TsIsTimestamp(conn, src, `${offline}/events/${src.name}/**/*.parquet`);
        const t0 = Now();
        const [n, h] = (await Rows(conn, ChecksumSql(view, src, EventsSql(src, offline, tsTypes[src.name]))))[0];
        const r = (results[vname] ??= { rows: Number(n), check: String(h), secs: [] });
        r.secs.push(Now() - t0);
        if (r.check !== String(h)) Fail(`${vname}: checksum differs between repetitions`);
      }
    }
    for (const [vname, r] of Object.entries(results)) {
      Report(`${label}:backfill`, vname, r.rows, r.rows, r.secs);
      process.stdout.write(`CHECKSUM\t${label}\t${vname}\t${r.rows}\t${r.check}\n`);
    }
    conn.closeSync();
    instance.closeSync?.();
  }
}

// NULL-safe equality of a DuckDB value `a` and vigil's `b`, doubles to 1e-9 relative.
function SameSql(a, b) {
  return `(${a} IS NOT DISTINCT FROM ${b}
           OR abs(try_cast(${a} AS DOUBLE) - try_cast(${b} AS DOUBLE))
              <= 1e-9 * greatest(1, abs(try_cast(${b} AS DOUBLE))))`;
}

async function BackfillVerify(spec, offline, bounds) {
  const sources = Sources(spec);
  const { instance, conn } = await Open('default');
  let bad = 0;
  for (const [vname, view] of Object.entries(spec.views)) {
    if (!(vname in bounds)) continue;
    const src = sources[view.source];
    const ts = Id(src.ts_field);
    const isTs = await TsIsTimestamp(conn, src, `${offline}/events/${src.name}/**/*.parquet`);
    const glob = `${offline}/features/${vname}/version=*/**/backfill-*.parquet`;
    const clTs = await TsIsTimestamp(conn, { ts_field: 'ts' }, glob);
    await conn.run(`CREATE OR REPLACE TEMP TABLE d AS
                    SELECT * FROM (${FeaturesSql(view, src, EventsSql(src, offline, isTs))})
                    WHERE ${ts} < ${BigInt(bounds[vname])}`);
    await conn.run(`CREATE OR REPLACE TEMP TABLE cl AS
                    SELECT * EXCLUDE (ts), ${clTs ? 'epoch_ms(ts)' : 'ts::BIGINT'} AS __cts
                    FROM read_parquet(${Str(glob)}, hive_partitioning = false)`);
    const diffs = view.features.map((f, i) => `count(*) FILTER (WHERE NOT coalesce(${SameSql(`d.__f${i}`, `cl.${Id(f.name)}`)}, false))`);
    const on = view.keys.map((k) => `d.${Id(k)} = cl.${Id(k)}`).join(' AND ');
    const [events, matched, clRows, ...perFeature] = (await Rows(conn, `
        SELECT count(*), count(cl.__cts), (SELECT count(*) FROM cl), ${diffs.join(', ')}
        FROM d ASOF LEFT JOIN cl ON ${on} AND d.${ts} >= cl.__cts`))[0].map(Number);
    const wrong = view.features.map((f, i) => [f.name, perFeature[i]]).filter(([, n]) => n > 0);
    const ok = matched === events && wrong.length === 0;
    if (!ok) {
      bad++;
      const sample = await Rows(conn, `
          SELECT ${view.keys.map((k) => `d.${Id(k)}`).join(', ')}, d.${ts}, cl.__cts,
                 ${view.features.map((f, i) => `d.__f${i}::VARCHAR || ' vs ' || coalesce(cl.${Id(f.name)}::VARCHAR, 'NULL')`).join(', ')}
          FROM d ASOF LEFT JOIN cl ON ${on} AND d.${ts} >= cl.__cts
          WHERE cl.__cts IS NULL OR NOT (${view.features.map((f, i) => `coalesce(${SameSql(`d.__f${i}`, `cl.${Id(f.name)}`)}, false)`).join(' AND ')})
          LIMIT 3`);
      for (const s of sample) process.stdout.write(`  MISMATCH ${vname}: ${s.map(String).join(' | ')}\n`);
    }
    process.stdout.write(`verify backfill ${vname}: ${events} events below the bound, ${clRows} vigil rows, ` +
                         `${events - matched} events without a vigil row, ` +
                         `${wrong.length ? wrong.map(([n, k]) => `${n}: ${k} differ`).join(', ') : 'all features equal'}\n`);
  }
  conn.closeSync();
  instance.closeSync?.();
  if (bad > 0) Fail(`MISMATCH: ${bad} view(s) differ between vigil's backfill and DuckDB`);
}

async function Labels(spec, offline, n, seed, out) {
  const src = Sources(spec).logins;
  if (!src) Fail('labels are drawn from the logins source, which the spec lacks');
  const { instance, conn } = await Open('default');
  const glob = `${offline}/events/logins/**/*.parquet`;
  const ms = (await TsIsTimestamp(conn, src, glob)) ? 'epoch_ms(ts)' : 'ts::BIGINT';
  const day = 86400000n;
  await conn.run(`COPY (
      WITH e AS (SELECT user_id, device_id, ${ms} AS ts,
                        hash(_partition, _offset, ${Number(seed)}) AS h,
                        hash(_offset, _partition, ${Number(seed) + 1}) AS h2
                 FROM read_parquet(${Str(glob)}, hive_partitioning = true) WHERE NOT _late),
           lim AS (SELECT max(ts) - ${day} AS end_ts FROM e)
      SELECT CASE WHEN h % 20 = 0 THEN 'u_unknown_' || (h2 % 1000000)::VARCHAR ELSE user_id END AS user_id,
             device_id, ts + (h2 % ${day})::BIGINT AS ts, (h % 7 = 0)::INTEGER AS label
      FROM e, lim
      WHERE ts + (h2 % ${day})::BIGINT < end_ts
      ORDER BY h, h2
      LIMIT ${Number(n)}
    ) TO ${Str(out)} (FORMAT csv, HEADER true)`);
  const [rows] = (await Rows(conn, `SELECT count(*) FROM read_csv(${Str(out)}, header = true)`))[0];
  process.stdout.write(`labels: ${rows} rows -> ${out}\n`);
  conn.closeSync();
  instance.closeSync?.();
}

// The output columns of `vigil dataset`, and the DuckDB query that writes the same.
async function DatasetSql(conn, spec, offline, labels, views, out) {
  const header = (await Rows(conn, `DESCRIBE SELECT * FROM read_csv(${Str(labels)}, header = true, all_varchar = true)`)).map((r) => String(r[0]));
  const joins = [];
  const cols = header.map((h) => `l.${Id(h)}`);
  for (const [i, vname] of views.entries()) {
    const view = spec.views[vname];
    if (!view) Fail(`unknown view ${vname}`);
    const glob = `${offline}/features/${vname}/version=*/**/*.parquet`;
    const isTs = await TsIsTimestamp(conn, { ts_field: 'ts' }, glob);
    const c = `c${i}`;
    const feats = view.features.map((f) => Id(f.name)).join(', ');
    joins.push(`ASOF LEFT JOIN (SELECT ${view.keys.map(Id).join(', ')}, ${isTs ? 'epoch_ms(ts)' : 'ts::BIGINT'} AS __ts, ${feats}
                                FROM read_parquet(${Str(glob)}, hive_partitioning = false)) ${c}
                ON ${view.keys.map((k) => `l.${Id(k)} = ${c}.${Id(k)}`).join(' AND ')} AND l.__asof >= ${c}.__ts`);
    for (const f of view.features) {
      const v = `${c}.${Id(f.name)}`;
      let e = v;
      if (f.agg === 'count' || f.agg === 'count_distinct') e = `coalesce(${v}, 0)`;
      else if (f.agg === 'sum') e = `coalesce(${v}, ${spec.sources[view.source].schema[f.field] === 'double' ? '0.0' : '0'})`;
      cols.push(`${e} AS ${Id(`${vname}__${f.name}`)}`);
    }
  }
  return `COPY (
      SELECT ${cols.join(', ')}
      FROM (SELECT *, row_number() OVER () AS __row, ${Id('ts')}::BIGINT - 1 AS __asof
            FROM read_csv(${Str(labels)}, header = true, all_varchar = true)) l
      ${joins.join('\n')}
      ORDER BY l.__row
    ) TO ${Str(out)} (FORMAT parquet)`;
}

async function Dataset(spec, offline, labels, views, outDir, threadsList, reps) {
  for (const threads of threadsList) {
    const { instance, conn, label, note } = await Open(threads);
    process.stdout.write(`${note}\n`);
    const out = `${outDir}/${label}.parquet`;
    const sql = await DatasetSql(conn, spec, offline, labels, views, out);
    const secs = [];
    for (let rep = 0; rep < reps; rep++) {
      const t0 = Now();
      await conn.run(sql);
      secs.push(Now() - t0);
    }
    const [n] = (await Rows(conn, `SELECT count(*) FROM read_parquet(${Str(out)})`))[0].map(Number);
    Report(`${label}:dataset`, 'total', n, n, secs);
    conn.closeSync();
    instance.closeSync?.();
  }
}

async function DatasetVerify(spec, labels, views, vigilOut, duckOut) {
  const { instance, conn } = await Open('default');
  const cols = (await Rows(conn, `DESCRIBE SELECT * FROM read_parquet(${Str(duckOut)})`)).map((r) => String(r[0]));
  const vcols = new Set((await Rows(conn, `DESCRIBE SELECT * FROM read_parquet(${Str(vigilOut)})`)).map((r) => String(r[0])));
  const missing = cols.filter((c) => !vcols.has(c));
  if (missing.length) Fail(`MISMATCH: vigil's dataset lacks columns ${missing.join(', ')}`);
  await conn.run(`CREATE TEMP TABLE v AS SELECT * FROM read_parquet(${Str(vigilOut)}, file_row_number = true)`);
  await conn.run(`CREATE TEMP TABLE d AS SELECT * FROM read_parquet(${Str(duckOut)}, file_row_number = true)`);
  const diffs = cols.map((c) => `count(*) FILTER (WHERE NOT coalesce(${SameSql(`d.${Id(c)}`, `v.${Id(c)}`)}, false))`);
  const row = (await Rows(conn, `
      SELECT (SELECT count(*) FROM v), (SELECT count(*) FROM d), count(*), ${diffs.join(', ')}
      FROM d JOIN v USING (file_row_number)`))[0].map(Number);
  const [nv, nd, joined, ...per] = row;
  const wrong = cols.map((c, i) => [c, per[i]]).filter(([, k]) => k > 0);
  process.stdout.write(`verify dataset: vigil ${nv} rows, DuckDB ${nd} rows, ${cols.length} columns compared; ` +
                       `${wrong.length ? wrong.map(([c, k]) => `${c}: ${k} differ`).join(', ') : 'every value equal'}\n`);
  if (wrong.length || nv !== nd || joined !== nv) {
    const [c] = wrong[0] ?? ['ts'];
    const sample = await Rows(conn, `SELECT d.file_row_number, d.user_id, d.device_id, d.ts, d.${Id(c)}::VARCHAR, v.${Id(c)}::VARCHAR
                                     FROM d JOIN v USING (file_row_number)
                                     WHERE NOT coalesce(${SameSql(`d.${Id(c)}`, `v.${Id(c)}`)}, false) LIMIT 3`);
    for (const s of sample) process.stdout.write(`  MISMATCH ${c}: row ${s.map(String).join(' | ')} (DuckDB | vigil)\n`);
    Fail('MISMATCH: vigil dataset and DuckDB ASOF JOIN differ');
  }
  conn.closeSync();
  instance.closeSync?.();
}

async function Main() {
  const [mode, specPath, ...args] = process.argv.slice(2);
  const opt = { reps: 3, threads: ['1', 'default'] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) Fail(`unexpected argument ${a}`);
    opt[a.slice(2)] = args[++i];
  }
  if (!mode || !specPath) Fail('usage: see the header of tools/node/bench_offline.mjs');
  const spec = JSON.parse(readFileSync(specPath, 'utf8'));
  const threads = typeof opt.threads === 'string' ? opt.threads.split(',') : opt.threads;
  const reps = Number(opt.reps);
  const need = (k) => opt[k] ?? Fail(`${mode} needs --${k}`);
  switch (mode) {
    case 'backfill': return Backfill(spec, need('offline'), threads, reps);
    case 'backfill-verify': {
      const bounds = Object.fromEntries(need('bounds').split(',').map((kv) => kv.split('=')));
      return BackfillVerify(spec, need('offline'), bounds);
    }
    case 'labels': return Labels(spec, need('offline'), need('n'), need('seed'), need('out'));
    case 'dataset':
      return Dataset(spec, need('offline'), need('labels'), need('views').split(','), need('out-dir'), threads, reps);
    case 'dataset-verify':
      return DatasetVerify(spec, need('labels'), need('views').split(','), need('vigil'), need('duckdb'));
  }
  Fail(`unknown mode ${mode}`);
}

await Main().catch((e) => Fail(e?.stack ?? String(e)));
