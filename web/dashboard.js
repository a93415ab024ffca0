// vigil's monitoring dashboard: polls the /v1/monitor/* endpoints of the server that
// served it (src/serving/dashboard.h documents each document) and draws them with uPlot.
// Nothing is loaded from another host. Data is put into the page as text, never as HTML.
'use strict';

(function () {
  const LIVE_EVERY_MS = 1000;
  const REST_EVERY_MS = 5000;
  const DRIFT_LINES = 6;  // features drawn in the drift chart (the worst ones)
  const SKEW_LINES = 4;
  const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

  // `#token=T` in the URL: sent as a bearer token (the fragment never reaches a server).
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  let model = '';           // the model shown; '' until the registry is read
  const charts = {};        // id -> {plot, key}

  // ---- helpers ---------------------------------------------------------------------

  async function api(path) {
    const headers = token ? {Authorization: 'Bearer ' + token} : {};
    const r = await fetch(path, {headers, cache: 'no-store'});
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(path + ': ' + r.status + ' ' + (body.error || r.statusText));
    return body;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function pad(n) { return String(n).padStart(2, '0'); }
  // ms since the epoch -> "2026-01-19 14:05:09" in UTC (the pipeline's time zone).
  function when(ms) {
    if (ms === null || ms === undefined) return '–';
    const d = new Date(ms);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
        pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
  }
  function num(v, digits) {
    return v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(digits);
  }
  function pct(v) { return v === null || v === undefined ? '–' : (100 * v).toFixed(2) + '%'; }
  // Who moved an alias: the command line that did it, without the project directory.
  function who(command) {
    return command ? command.replace(/\s--project\s+\S+/, '') : '–';
  }
  function badge(text, cls) { return el('span', {class: 'badge ' + (cls || text)}, text); }

  function table(id, head, rows, empty) {
    const box = document.getElementById(id);
    if (!rows.length) {
      box.replaceChildren(el('div', {class: 'empty'}, empty));
      return;
    }
    const thead = el('tr', {}, ...head.map(h => el('th', {class: h.startsWith('#') ? 'num' : ''}, h.replace(/^#/, ''))));
    const body = rows.map(r => {
      const tr = el('tr', {class: r.cls || ''});
      r.cells.forEach((c, i) => tr.append(el('td', {class: head[i].startsWith('#') ? 'num' : (r.wrap === i ? 'wrap' : '')}, c)));
      return tr;
    });
    box.replaceChildren(el('table', {}, el('thead', {}, thead), el('tbody', {}, ...body)));
  }

  // Draws (or updates) a uPlot chart in #id. `key` names the series layout: a new key
  // rebuilds the chart, the same key only swaps the data.
  function chart(id, key, series, data, opts) {
    const box = document.getElementById(id);
    const c = charts[id];
    // No point yet: no empty frame, the table beside says why.
    box.style.display = data[0].length ? '' : 'none';
    if (!data[0].length) {
      if (c) c.plot.destroy();
      delete charts[id];
      return;
    }
    const width = Math.max(240, box.clientWidth);
    if (c && c.key === key) {
      c.plot.setData(data);
      if (Math.abs(c.plot.width - width) > 4) c.plot.setSize({width, height: c.plot.height});
      return;
    }
    if (c) c.plot.destroy();
    box.replaceChildren();
    const plot = new uPlot(Object.assign({
      width,
      height: 220,
      series: [{}].concat(series),
      axes: [{}, {size: 56}],
      cursor: {drag: {x: false, y: false}},
    }, opts || {}), data, box);
    charts[id] = {plot, key};
  }
  function line(label, i, extra) {
    return Object.assign({label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true,
                          points: {show: true, size: 5}}, extra || {});
  }
  function threshold(label, color) {
    return {label, stroke: color, width: 1, dash: [6, 4], points: {show: false}};
  }

  function setStatus(text, error) {
    const s = document.getElementById('status');
    s.textContent = text;
    s.className = 'status' + (error ? ' error' : '');
  }

  // ---- live traffic ----------------------------------------------------------------

  async function refreshLive() {
    const d = await api('/v1/monitor/live');
    const last = (xs) => xs.length ? xs[xs.length - 1] : null;
    const lastSeen = (xs) => { for (let i = xs.length - 1; i >= 0; i--) if (xs[i] !== null) return xs[i]; return null; };
    document.getElementById('qps-now').textContent = num(last(d.qps), 1);
    document.getElementById('qps-peak').textContent = num(d.qps.length ? Math.max(...d.qps) : null, 1);
    document.getElementById('p50-now').textContent = num(lastSeen(d.p50_ms), 2);
    document.getElementById('p99-now').textContent = num(lastSeen(d.p99_ms), 2);
    document.getElementById('errors-now').textContent = num(last(d.errors_per_second), 1);
    const t = d.t.map(ms => ms / 1000);
    chart('chart-qps', 'qps', [line('requests/s', 0, {fill: 'rgba(37,99,235,0.08)', points: {show: false}}),
                               line('5xx/s', 1, {points: {show: false}})],
          [t, d.qps, d.errors_per_second]);
    chart('chart-latency', 'latency', [line('p50 ms', 2, {points: {show: false}}), line('p99 ms', 3, {points: {show: false}})],
          [t, d.p50_ms, d.p99_ms]);
  }

  // ---- models ----------------------------------------------------------------------

  async function refreshModels() {
    const d = await api('/v1/monitor/models');
    const names = Object.keys(d.models);
    const select = document.getElementById('model');
    if (select.options.length !== names.length || names.some((n, i) => select.options[i].value !== n)) {
      select.replaceChildren(...names.map(n => el('option', {value: n}, n)));
    }
    if (!names.includes(model)) model = names[0] || '';
    select.value = model;
    document.getElementById('models-root').textContent = d.root ? 'registry ' + d.root : '';
    const m = d.models[model];
    if (!m) {
      table('versions', [], [], 'No model in the registry yet: train one (vigil train MODEL).');
      table('alias-history', [], [], '');
      table('decisions', [], [], '');
      return;
    }
    const aliasesOf = {};
    for (const [alias, v] of Object.entries(m.aliases || {})) (aliasesOf[v] = aliasesOf[v] || []).push(alias);
    const versions = m.versions.slice().reverse();
    table('versions', ['version', 'aliases', 'created', 'training cut-off', '#ROC AUC', '#PR AUC', '#log loss', '#holdout rows'],
          versions.map(v => {
            const h = v.holdout || {};
            const met = v.metrics || {};
            return {cls: (aliasesOf[v.version] || []).includes('champion') ? '' : '',
                    cells: ['v' + v.version,
                            el('span', {}, ...(aliasesOf[v.version] || []).map(a => badge(a, a === 'champion' ? 'champion' : ''))),
                            when(v.created_at_ms), when(v.cutoff_ms),
                            num(h.roc_auc ?? met.roc_auc, 4), num(h.pr_auc ?? met.pr_auc, 4),
                            num(h.log_loss ?? met.log_loss, 4), h.rows ?? met.holdout_rows ?? '–']};
          }), 'No version yet.');
    table('alias-history', ['when', 'alias', 'move', 'why', 'by'],
          (m.history || []).slice().reverse().map(h => ({
            wrap: 4,
            cells: [when(h.at_ms), h.alias,
                    (h.from_version ? 'v' + h.from_version : 'unset') + ' → ' + (h.to_version ? 'v' + h.to_version : 'unset') +
                        (h.rollback ? ' (rollback)' : ''),
                    h.reason || '–', el('span', {title: h.command || ''}, who(h.command))]})),
          'No alias has moved yet.');
    table('decisions', ['round at (event time)', 'trigger', 'champion', 'challenger', 'promoted', 'why'],
          (m.decisions || []).slice().reverse().map(x => ({
            wrap: 5,
            cls: x.promoted ? 'warn' : '',
            cells: [when(x.event_time_ms), x.trigger,
                    x.champion_version ? 'v' + x.champion_version + ' ' + num(x.champion_score, 4) : '–',
                    x.challenger_version ? 'v' + x.challenger_version + ' ' + num(x.challenger_score, 4) : '–',
                    x.promoted ? 'yes' : 'no', x.reason || '–']})),
          'No retraining round yet.');
  }

  // ---- drift -----------------------------------------------------------------------

  async function refreshDrift() {
    const d = await api('/v1/monitor/drift?model=' + encodeURIComponent(model));
    const t = d.windows.map(w => w.to / 1000);
    const shown = d.features.filter(f => f.max_psi !== null).slice(0, DRIFT_LINES);
    const series = shown.map((f, i) => line(f.feature === '__score__' ? 'score' : f.feature, i));
    chart('chart-drift', 'drift:' + shown.map(f => f.feature).join(','),
          series.concat([threshold('warn', '#d97706'), threshold('alert', '#dc2626')]),
          [t].concat(shown.map(f => f.psi), [t.map(() => 0.1), t.map(() => 0.25)]),
          {scales: {y: {range: (u, lo, hi) => [0, Math.max(0.3, hi * 1.1)]}}});
    table('drift-table', ['feature', '#last PSI', '#max PSI', 'level'],
          d.features.map((f, i) => ({
            cls: f.last_level === 'alert' ? 'alert' : f.last_level === 'warn' ? 'warn' : '',
            cells: [el('span', {}, f.feature === '__score__' ? 'score (prediction)' : f.feature,
                       i < 3 && f.max_psi !== null ? ' ' : '', i < 3 && f.max_psi !== null ? badge('worst ' + (i + 1), 'worst') : null),
                    num(f.last_psi, 3), num(f.max_psi, 3), f.last_level ? badge(f.last_level) : '–']})),
          'No drift window yet: run vigil monitor drift.');
    table('alerts', ['when', 'version', 'feature', 'change', '#PSI', '#KS', '#JS'],
          d.alerts.map(a => ({
            cls: a.to === 'alert' ? 'alert' : a.to === 'warn' ? 'warn' : '',
            cells: [when(a.at), 'v' + a.version, a.feature, el('span', {}, badge(a.from), '→ ', badge(a.to)),
                    num(a.psi, 3), num(a.ks, 3), num(a.js, 3)]})),
          'No alert change.');
  }

  // ---- skew ------------------------------------------------------------------------

  async function refreshSkew() {
    const d = await api('/v1/monitor/skew?model=' + encodeURIComponent(model));
    const t = d.checks.map(c => c.ts / 1000);
    const shown = d.features.filter(f => f.max_rate > 0).slice(0, SKEW_LINES);
    chart('chart-skew', 'skew:' + shown.map(f => f.feature).join(','),
          [line('rows mismatched', 1)].concat(shown.map((f, i) => line(f.feature, i + 2))),
          [t, d.checks.map(c => c.mismatch_rate)].concat(shown.map(f => f.rate)),
          {axes: [{}, {size: 56, values: (u, vs) => vs.map(v => (100 * v).toFixed(1) + '%')}]});
    const last = d.checks[d.checks.length - 1];
    const rows = last ? [{cls: last.mismatch_rate > 0 ? 'warn' : '',
                          cells: ['all features (rows)', pct(last.mismatch_rate), last.mismatched_rows + ' / ' + last.sampled]}] : [];
    table('skew-table', ['feature (last check' + (last ? ', v' + last.version + ' at ' + when(last.ts) : '') + ')', '#mismatch rate', '#mismatches'],
          rows.concat(d.features.map(f => {
            const i = f.rate.length - 1;
            return {cls: f.last_rate > 0 ? 'warn' : '',
                    cells: [f.feature, pct(f.last_rate), (f.mismatches[i] ?? '–') + ' / ' + (f.compared[i] ?? '–')]};
          })),
          'No skew check yet: run vigil monitor skew.');
  }

  // ---- performance -----------------------------------------------------------------

  async function refreshPerformance() {
    const d = await api('/v1/monitor/performance?model=' + encodeURIComponent(model));
    const t = d.windows.map(w => w.to / 1000);
    chart('chart-auc', 'auc', [line('ROC AUC', 0), line('PR AUC', 4), threshold('ROC AUC baseline', '#6b7785')],
          [t, d.windows.map(w => w.roc_auc), d.windows.map(w => w.pr_auc), d.windows.map(w => w.baseline ?? null)],
          {scales: {y: {range: [0, 1]}}});
    const alertAt = new Set(d.alerts.filter(a => a.to === 'alert').map(a => a.at));
    table('auc-table', ['window', 'version', '#labels', '#positives', '#ROC AUC', '#PR AUC'],
          d.windows.slice().reverse().map(w => ({
            cls: alertAt.has(w.to) || w.level === 'alert' ? 'alert' : '',
            cells: [when(w.from) + ' → ' + when(w.to), 'v' + w.version, w.labels ?? '–', w.positives ?? '–',
                    num(w.roc_auc, 4), num(w.pr_auc, 4)]})),
          'No measured window yet: labels arrive after the scores.');
  }

  // ---- polling ---------------------------------------------------------------------

  async function refreshRest() {
    await refreshModels();
    await Promise.all([refreshDrift(), refreshSkew(), refreshPerformance()]);
  }

  function poll(fn, every) {
    const run = async () => {
      try {
        await fn();
        setStatus('updated ' + new Date().toISOString().slice(11, 19) + ' UTC' + (model ? ' · model ' + model : ''));
      } catch (e) {
        setStatus(e.message, true);
      }
      setTimeout(run, every);
    };
    return run();
  }

  document.getElementById('model').addEventListener('change', (e) => {
    model = e.target.value;
    refreshRest().catch(err => setStatus(err.message, true));
  });
  window.addEventListener('resize', () => {
    for (const [id, c] of Object.entries(charts)) {
      c.plot.setSize({width: Math.max(240, document.getElementById(id).clientWidth), height: c.plot.height});
    }
  });

  poll(refreshLive, LIVE_EVERY_MS);
  poll(refreshRest, REST_EVERY_MS);
})();
