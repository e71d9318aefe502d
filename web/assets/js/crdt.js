// /crdt: the CRDT inspector: version vectors of every member, the op log
// per origin (paged), what each peer lacks, one inode's registers
// (content versions: winner and siblings), tombstones, settings.
import { html, mount, Shell, get, useState, useEffect, useStream, debounce, useRef, fmtTime, fmtNum, ErrorNote, Badge } from '/ui/js/lib.js';

function Vectors({ sum }) {
  const origins = Object.keys(sum.version_vector).sort();
  for (const p of sum.peers) for (const o of Object.keys(p.version_vector)) if (!origins.includes(o)) origins.push(o);
  const rows = [{ node_id: sum.node_id, version_vector: sum.version_vector, self: true, up: true }, ...sum.peers];
  return html`<section aria-labelledby="vv-h">
    <h2 id="vv-h">Version vectors</h2>
    <p class="small muted">Each row is what a member has applied, by origin (the peers' rows are as they last reported them). A cell below this node's value means that member lacks ops.</p>
    <div class="table-wrap"><table id="vectors" class="vv">
      <thead><tr><th scope="col">Member</th>${origins.map((o) => html`<th scope="col" class="num">${o}</th>`)}<th scope="col" class="num">Lacks</th><th scope="col" class="num">Ahead</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr data-node=${r.node_id}>
        <th scope="row">${r.node_id} ${r.self ? html`<${Badge}>this node<//>` : r.up ? '' : html`<${Badge} kind="bad">down<//>`}</th>
        ${origins.map((o) => {
          const v = r.version_vector[o] || 0;
          const mine = sum.version_vector[o] || 0;
          return html`<td class=${'num ' + (v < mine ? 'behind' : v > mine ? 'ahead' : '')} data-origin=${o}>${v}</td>`;
        })}
        <td class="num">${r.self ? '–' : fmtNum(Object.values(r.missing || {}).reduce((a, b) => a + b, 0))}</td>
        <td class="num">${r.self ? '–' : fmtNum(Object.values(r.ahead || {}).reduce((a, b) => a + b, 0))}</td>
      </tr>`)}</tbody>
    </table></div>
  </section>`;
}

function OpLog({ sum }) {
  const origins = Object.keys(sum.logs).sort();
  const [origin, setOrigin] = useState(origins[0] || '');
  const [after, setAfter] = useState(null);
  const [page, setPage] = useState(null);
  const [err, setErr] = useState(null);
  const per = 50;
  useEffect(() => { if (!origin && origins.length) setOrigin(origins[0]); }, [origins.join()]);
  useEffect(() => {
    if (!origin) return;
    const r = sum.logs[origin];
    const start = after === null ? Math.max(r.base, r.last - per) : after;
    get(`/api/crdt/log?origin=${encodeURIComponent(origin)}&after=${start}&limit=${per}`).then((p) => { setPage(p); setErr(null); }, setErr);
  }, [origin, after, sum.logs[origin] && sum.logs[origin].last]);
  const r = sum.logs[origin] || { base: 0, last: 0 };
  const first = page && page.ops.length ? page.ops[0].seq - 1 : r.base;
  return html`<section aria-labelledby="log-h">
    <h2 id="log-h">Op log</h2>
    <div class="toolbar">
      <label for="origin">Origin</label>
      <select id="origin" value=${origin} onChange=${(e) => { setOrigin(e.target.value); setAfter(null); }}>${origins.map((o) => html`<option value=${o}>${o}</option>`)}</select>
      <span class="small muted">kept: ops ${r.base + 1}…${r.last}${r.base ? ` (1…${r.base} compacted into the snapshot)` : ''}</span>
      <button disabled=${first <= r.base} onClick=${() => setAfter(Math.max(r.base, first - per))}>Older</button>
      <button disabled=${!page || !page.next} onClick=${() => setAfter(page.next)}>Newer</button>
      <button onClick=${() => setAfter(null)}>Latest</button>
    </div>
    <${ErrorNote} error=${err} />
    <div class="table-wrap"><table id="oplog"><thead><tr><th scope="col">Op</th><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">Inode</th><th scope="col">What</th></tr></thead>
      <tbody>${page ? page.ops.map((o) => html`<tr><td class="mono">${o.id}</td><td class="small">${fmtTime(o.time)}</td><td>${o.kind}</td>
        <td class="mono small">${o.inode ? html`<a href=${'/crdt?inode=' + o.inode}>${o.inode.slice(0, 8)}…</a>` : ''}</td><td class="small">${o.summary}</td></tr>`) : ''}</tbody></table></div>
  </section>`;
}

function InodeView() {
  const params = new URLSearchParams(location.search);
  const [q, setQ] = useState(params.get('inode') || params.get('path') || '/');
  const [reg, setReg] = useState(null);
  const [err, setErr] = useState(null);
  const look = (v) => {
    const byID = /^[0-9a-f]{32}$/.test(v);
    get('/api/crdt/inode?' + (byID ? 'id=' : 'path=') + encodeURIComponent(v)).then((r) => { setReg(r); setErr(null); }, (e) => { setErr(e); setReg(null); });
  };
  useEffect(() => look(q), []);
  return html`<section aria-labelledby="inode-h">
    <h2 id="inode-h">Inode registers</h2>
    <form class="toolbar" onSubmit=${(e) => { e.preventDefault(); look(q); }}>
      <label for="inode-q">Path or inode id</label>
      <input id="inode-q" value=${q} onInput=${(e) => setQ(e.target.value)} size="40" />
      <button type="submit">Inspect</button>
    </form>
    <${ErrorNote} error=${err} />
    ${reg ? html`<div id="registers">
      <p><span class="mono">${reg.inode}</span> · ${reg.kind} · created ${fmtTime(reg.created)}</p>
      <div class="cols">
        <div><h3>Attributes (last writer wins)</h3><div class="table-wrap"><table><thead><tr><th scope="col">Field</th><th scope="col">Value</th><th scope="col">Written by</th><th scope="col">At</th></tr></thead>
          <tbody>${reg.attrs.map((a) => html`<tr><td>${a.field}</td><td class="mono small">${a.value}</td><td>${a.node}</td><td class="small">${fmtTime(a.time)}</td></tr>`)}</tbody></table></div></div>
        <div><h3>Content versions (multi-value)</h3>
          ${reg.versions.length === 0 ? html`<p class="muted">none</p>` : html`<div class="table-wrap"><table id="versions"><thead><tr><th scope="col">Version</th><th scope="col">Size</th><th scope="col">Chunks</th><th scope="col">At</th><th scope="col"></th></tr></thead>
          <tbody>${reg.versions.map((v) => html`<tr><td class="mono">${v.id}</td><td>${v.size}${v.inline ? ' (inline)' : ''}</td><td>${v.chunks}</td><td class="small">${fmtTime(v.time)}</td>
            <td>${v.winner ? html`<${Badge} kind="good">winner<//>` : html`<${Badge} kind="warn">sibling<//>`}</td></tr>`)}</tbody></table></div>`}
          <p class="small">Causal context: <span class="mono">${reg.content_context || '{}'}</span></p>
          <h3>Names (dentries)</h3><ul>${reg.dentries.map((d) => html`<li><span class="mono small">${d.dentry.slice(0, 8)}…</span> “${d.name}” in ${d.parent.slice(0, 8)} ${d.live ? '' : html`<${Badge} kind="bad">deleted<//>`} (op ${d.op})</li>`)}</ul>
          ${reg.xattrs.length ? html`<h3>Extended attributes</h3><ul>${reg.xattrs.map((x) => html`<li>${x.field}: ${x.value} (${x.node})</li>`)}</ul>` : ''}
        </div>
      </div></div>` : ''}
  </section>`;
}

function Tombstones() {
  const [t, setT] = useState(null);
  useEffect(() => { get('/api/crdt/tombstones?limit=50').then(setT, () => {}); }, []);
  if (!t) return null;
  return html`<section aria-labelledby="tomb-h"><h2 id="tomb-h">Tombstones <small>${fmtNum(t.total)} kept until compaction</small></h2>
    ${t.tombstones.length === 0 ? html`<p class="muted">none</p>` : html`<div class="table-wrap"><table><thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Was in</th><th scope="col">Deleted</th><th scope="col">By</th></tr></thead>
    <tbody>${t.tombstones.map((x) => html`<tr><td>${x.name}</td><td>${x.kind}</td><td class="mono small">${x.was_in.slice(0, 8)}</td><td class="small">${fmtTime(x.deleted_at)}</td><td>${x.by}</td></tr>`)}</tbody></table></div>`}
  </section>`;
}

function Settings({ sum }) {
  return html`<section aria-labelledby="set-h"><h2 id="set-h">Setting registers</h2>
    <div class="table-wrap"><table id="settings"><thead><tr><th scope="col">Key</th><th scope="col">Value</th><th scope="col">Written by</th><th scope="col">At</th></tr></thead>
    <tbody>${sum.settings.map((s) => html`<tr><td class="mono">${s.key}</td><td class="mono small">${JSON.stringify(s.value)}</td><td>${s.node}</td><td class="small">${fmtTime(s.time)}</td></tr>`)}</tbody></table></div>
    <p class="small muted">Footprint: ${fmtNum(sum.footprint.LogOps)} log ops, ${fmtNum(sum.footprint.MoveLog)} move-log entries, ${fmtNum(sum.footprint.Dentries)} dentries; ${sum.all_durable ? 'every op is durable' : 'ops are being written'}.</p>
  </section>`;
}

function App() {
  const [sum, setSum] = useState(null);
  const [err, setErr] = useState(null);
  const load = () => get('/api/crdt').then((s) => { setSum(s); setErr(null); }, setErr);
  const reload = useRef(debounce(load, 500)).current;
  useEffect(() => { load(); const t = setInterval(load, 5000); return () => clearInterval(t); }, []);
  useStream({ reset: () => reload(), change: () => reload(), bulk: () => reload(), event: () => reload() });
  return html`<${Shell} active="/crdt" title="CRDT inspector">
    <${ErrorNote} error=${err} />
    ${sum ? html`<${Vectors} sum=${sum} /><${InodeView} /><${OpLog} sum=${sum} /><div class="cols"><${Settings} sum=${sum} /><${Tombstones} /></div>` : ''}
  <//>`;
}

mount(App);
