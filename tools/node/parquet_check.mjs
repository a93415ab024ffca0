// Runs SQL statements in one DuckDB session and prints the rows of the last one as a JSON
// array of objects: the Parquet codec's tests use it to have an independent engine read
// what vigil writes and write what vigil must read (DESIGN.md §6).
//
//   node tools/node/parquet_check.mjs 'CREATE TABLE t AS ...' "COPY t TO 'f.parquet' ..." 'SELECT ...'
//
// Values print as JSON: BIGINT/HUGEINT as strings (exact beyond 2^53), DOUBLE as JSON
// numbers (shortest round-trip text), BOOLEAN, VARCHAR and NULL as themselves, anything
// else through its text form. Select timestamps as integers (epoch_ms, ...) to compare them.
// Exit status 1, with DuckDB's message on stderr, if a statement fails.

import { DuckDBInstance } from '@duckdb/node-api';

const statements = process.argv.slice(2);
if (statements.length === 0) {
  console.error('usage: node parquet_check.mjs SQL [SQL...]');
  process.exit(2);
}

function plain(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  return String(v);
}

try {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  for (let i = 0; i < statements.length - 1; ++i) await conn.run(statements[i]);
  const reader = await conn.runAndReadAll(statements[statements.length - 1]);
  const names = reader.columnNames();
  const rows = reader.getRows().map((r) => Object.fromEntries(r.map((v, i) => [names[i], plain(v)])));
  process.stdout.write(JSON.stringify(rows) + '\n');
} catch (e) {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
}
