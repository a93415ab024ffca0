// What the DuckDB oracle (oracle.mjs) and the benchmark peer (bench_duckdb.mjs) share:
// vigil's types in SQL, SQL quoting, and the effective ttl of DESIGN.md §4.

export const kSqlTypes = {
  int64: 'BIGINT',
  double: 'DOUBLE',
  string: 'VARCHAR',
  bool: 'BOOLEAN',
  timestamp: 'BIGINT',
};

// SQL identifier and string literal quoting.
export const Id = (name) => '"' + String(name).replaceAll('"', '""') + '"';
export const Str = (s) => "'" + String(s).replaceAll("'", "''") + "'";

// Effective ttl in ms, or null for forever: the view's ttl, else its longest window,
// else (a lifetime feature) forever.
export function EffectiveTtl(view) {
  if (view.ttl_ms !== null && view.ttl_ms !== undefined) return BigInt(view.ttl_ms);
  let longest = 0n;
  for (const f of view.features) {
    if (f.window_ms === null || f.window_ms === undefined) return null;
    if (BigInt(f.window_ms) > longest) longest = BigInt(f.window_ms);
  }
  return longest;
}
