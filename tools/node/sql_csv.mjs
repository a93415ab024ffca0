// Runs SQL statements in one DuckDB session and writes the rows of the last one as CSV, so
// that the end-to-end tests can have an independent engine read what vigil wrote (the
// offline store's Parquet, `vigil dataset --out x.parquet`) and compare it with vigil's own
// CSV text (tests/offline_dataset_test.cc).
//
//   node tools/node/sql_csv.mjs OUT.csv SQL [SQL...]
//
// The CSV is vigil's: a header of the column names, null as an empty cell, BIGINT as an
// integer, DOUBLE in shortest round-trip form, BOOLEAN as true/false, VARCHAR raw (quoted
// when needed). Select timestamps as integers (epoch_ms(ts)); other types are written
// through their text form. Rows are streamed chunk by chunk, so a result of millions of
// rows needs little memory. Exit status 1, with DuckDB's message on stderr, if a statement
// fails.

import { createWriteStream } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

function CsvCell(s) {
  return /[",\r\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s;
}

function Format(v) {
  if (v === null || v === undefined) return '';
  switch (typeof v) {
    case 'bigint': return v.toString();
    case 'number': return String(v);
    case 'boolean': return v ? 'true' : 'false';
    case 'string': return CsvCell(v);
    default: return CsvCell(String(v));
  }
}

async function Main() {
  const [outPath, ...statements] = process.argv.slice(2);
  if (!outPath || statements.length === 0) {
    process.stderr.write('usage: node sql_csv.mjs OUT.csv SQL [SQL...]\n');
    process.exit(2);
  }
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run("SET TimeZone = 'UTC'");
  for (let i = 0; i < statements.length - 1; ++i) await conn.run(statements[i]);
  const result = await conn.stream(statements[statements.length - 1]);
  const out = createWriteStream(outPath);
  let failure = null;
  out.on('error', (e) => { failure = e; });
  const write = (text) => new Promise((resolve, reject) => {
    if (failure) reject(failure);
    else if (out.write(text)) resolve();
    else out.once('drain', () => (failure ? reject(failure) : resolve()));
  });
  await write(result.columnNames().map(CsvCell).join(',') + '\n');
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const lines = chunk.getRows().map((r) => r.map(Format).join(','));
    await write(lines.join('\n') + '\n');
  }
  if (failure) throw failure;
  await new Promise((resolve, reject) => out.end((e) => (e ? reject(e) : resolve())));
  conn.closeSync();
}

await Main().catch((e) => {
  process.stderr.write(`sql_csv: ${e?.message ?? String(e)}\n`);
  process.exit(1);
});
