// /metrics: graphs of the node's metric history (GET /api/metrics/history,
// sampled in the node every 5 s for the last hour: no Prometheus server
// needed). Prometheus users scrape /api/metrics and import
// contrib/grafana-dashboard.json.
import uPlot from '/ui/vendor/uplot.module.js';
import { html, mount, Shell, get, useState, useEffect, useRef, fmtBytes, fmtDuration, fmtNum, ErrorNote } from '/ui/js/lib.js';

const groups = [
  ['fuse', 'FUSE operations'], ['fuse_latency', 'FUSE mean latency'], ['http', 'HTTP requests'], ['http_latency', 'HTTP mean latency'],
  ['bytes', 'Bytes in and out'], ['repair', 'Repair and reclaim traffic'], ['lag', 'Replication lag'], ['chunks', 'Chunks stored'],
  ['stored', 'Bytes stored'], ['peers', 'Peers up'], ['runtime', 'Goroutines'], ['heap', 'Heap'],
];
const palette = ['#1b6fd1', '#2e8b57', '#d08700', '#c0392b', '#7b2cbf', '#555'];

function fmtValue(unit, v) {
  if (v == null) return '–';
  switch (unit) {
    case 'bytes/s': return fmtBytes(v) + '/s';
    case 'bytes': return fmtBytes(v);
    case 'seconds': return fmtDuration(v);
    case 'ops/s': return v.toFixed(v < 10 ? 2 : 0) + '/s';
    default: return fmtNum(Math.round(v));
  }
}

function Chart({ title, series, times }) {
  const box = useRef(null);
  const plot = useRef(null);
  const unit = series[0].unit;
  const data = [times, ...series.map((s) => s.values)];
  const latest = series.map((s) => { for (let i = s.values.length - 1; i >= 0; i--) if (s.values[i] != null) return s.values[i]; return null; });
  useEffect(() => {
    const width = Math.max(260, box.current.clientWidth);
    const opts = {
      width, height: 180,
      series: [{}, ...series.map((s, i) => ({ label: s.name, stroke: palette[i % palette.length], width: 1.5, spanGaps: false,
        value: (u, v) => fmtValue(unit, v) }))],
      axes: [{}, { size: 70, values: (u, vals) => vals.map((v) => fmtValue(unit, v)) }],
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
    };
    if (!plot.current) plot.current = new uPlot(opts, data, box.current);
    else plot.current.setData(data);
  });
  useEffect(() => {
    // Follow the box's width (a resized window, a phone turned).
    const ro = new ResizeObserver(() => {
      if (plot.current) plot.current.setSize({ width: Math.max(260, box.current.clientWidth), height: 180 });
    });
    ro.observe(box.current);
    return () => { ro.disconnect(); if (plot.current) plot.current.destroy(); };
  }, []);
  return html`<figure class="chart" data-group=${title}>
    <figcaption>${title} <span class="small muted">now: ${series.map((s, i) => `${series.length > 1 ? s.name + ' ' : ''}${fmtValue(unit, latest[i])}`).join(', ')}</span></figcaption>
    <div ref=${box} class="plot"></div>
  </figure>`;
}

function App() {
  const [hist, setHist] = useState(null);
  const [err, setErr] = useState(null);
  const load = () => get('/api/metrics/history').then((h) => { setHist(h); setErr(null); }, setErr);
  useEffect(() => { load(); const t = setInterval(load, 5000); return () => clearInterval(t); }, []);
  const byGroup = new Map();
  if (hist) for (const s of hist.series) { if (!byGroup.has(s.group)) byGroup.set(s.group, []); byGroup.get(s.group).push(s); }
  return html`<${Shell} active="/metrics" title="Metrics">
    <${ErrorNote} error=${err} />
    <p class="small muted">Sampled every ${hist ? hist.interval_seconds : 5} s in this node, the last hour (${hist ? hist.times.length : 0} samples). Prometheus: <a href="/api/metrics">/api/metrics</a>; Grafana: import <code>contrib/grafana-dashboard.json</code>.</p>
    ${hist && hist.times.length < 2 ? html`<p class="muted">Collecting the first samples…</p>` : ''}
    <div class="charts" id="charts">${hist && hist.times.length >= 1 ? groups.filter(([g]) => byGroup.has(g)).map(([g, title]) => html`<${Chart} key=${g} title=${title} series=${byGroup.get(g)} times=${hist.times} />`) : ''}</div>
  <//>`;
}

mount(App);
