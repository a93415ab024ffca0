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

// vigil's expression language is close to SQL; only these function names differ:
// log is the natural log (DuckDB's log is base 10), min/max of several arguments are
// least/greatest. The rest (== <> and or not in is null if coalesce lower abs exp) is
// DuckDB syntax already. String literals are left untouched.
export function WhereSql(text) {
  return text.split(/('(?:[^']|'')*')/).map((part, i) => {
    if (i % 2 === 1) return part;  // a string literal
    return part.replace(/\blog\s*\(/gi, 'ln(')
               .replace(/\bmin\s*\(/gi, 'least(')
               .replace(/\bmax\s*\(/gi, 'greatest(');
  }).join('');
}

// One feature as a window expression over window `win`.
export function FeatureSql(f, fieldType, win) {
  const x = f.field ? Id(f.field) : null;
  const conds = [];
  if (f.where) conds.push(`(${WhereSql(f.where)})`);
  const flt = (extra) => {
    const all = extra ? [...conds, extra] : conds;
    return all.length ? ` FILTER (WHERE ${all.join(' AND ')})` : '';
  };
  const over = ` OVER ${win}`;
  switch (f.agg) {
    case 'count': return `count(${x ?? '*'})${flt()}${over}`;
    case 'sum':
      return fieldType === 'double' ? `coalesce(sum(${x})${flt()}${over}, 0.0)`
                                    : `coalesce(sum(${x})${flt()}${over}, 0)`;
    case 'avg': return `avg(${x})${flt()}${over}`;
    case 'min': return `min(${x})${flt()}${over}`;
    case 'max': return `max(${x})${flt()}${over}`;
    case 'stddev': return `stddev_pop(${x})${flt()}${over}`;
    case 'count_distinct': return `count(DISTINCT ${x})${flt()}${over}`;
    case 'last': return `arg_max(${x}, __pos)${flt(`${x} IS NOT NULL`)}${over}`;
    case 'first': return `arg_min(${x}, __pos)${flt(`${x} IS NOT NULL`)}${over}`;
  }
  throw new Error(`feature ${f.name}: unknown agg ${f.agg}`);
}

// The query computing every feature of `view` for every event of `ev` (a table, or a
// parenthesised query): the keys, the ts and one column __f<i> per feature.
export function FeaturesSql(view, src, ev) {
  const part = view.keys.map(Id).join(', ');
  const ts = Id(src.ts_field);
  const ttl = EffectiveTtl(view);
  const hasLifetime = view.features.some((f) => f.window_ms === null || f.window_ms === undefined);
  const windows = new Map();  // frame text -> window name
  const cols = view.features.map((f, i) => {
    let frame;
    if (f.window_ms === null || f.window_ms === undefined) {
      frame = `PARTITION BY ${part}, __sess ORDER BY ${ts} RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`;
    } else {
      frame = `PARTITION BY ${part} ORDER BY ${ts} RANGE BETWEEN ${BigInt(f.window_ms) - 1n} PRECEDING AND CURRENT ROW`;
    }
    if (!windows.has(frame)) windows.set(frame, `w${windows.size}`);
    const type = f.field ? src.schema[f.field] : null;
    return `${FeatureSql(f, type, windows.get(frame))} AS __f${i}`;
  });
  const winDefs = [...windows].map(([frame, name]) => `${name} AS (${frame})`).join(', ');
  // Lifetime features need the entity's ttl sessions: an event starts one when its
  // predecessor is at least ttl older (the entity was dropped in between).
  let from = `${ev} __e WHERE ${view.keys.map((k) => `${Id(k)} IS NOT NULL`).join(' AND ')}`;
  if (hasLifetime) {
    const starts = ttl === null ? '__prev IS NULL' : `__prev IS NULL OR __prev + ${ttl} <= ${ts}`;
    from = `(SELECT *, max(CASE WHEN ${starts} THEN ${ts} END)
                         OVER (PARTITION BY ${part} ORDER BY ${ts}, __pos ROWS UNBOUNDED PRECEDING) AS __sess
             FROM (SELECT *, lag(${ts}) OVER (PARTITION BY ${part} ORDER BY ${ts}, __pos) AS __prev
                   FROM ${from}))`;
  }
  return `SELECT ${view.keys.map(Id).join(', ')}, ${ts}, ${cols.join(',\n ')}
          FROM ${from}
          WINDOW ${winDefs}`;
}
