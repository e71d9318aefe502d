// /monitor: this node and the cluster at a glance, live.
import {
  html, mount, Shell, api, get, useState, useEffect, useRef, useStream, debounce,
  fmtBytes, fmtNum, fmtTime, ago, ErrorNote, Badge,
} from '/ui/js/lib.js';

const clusterKinds = new Set(['peer_up', 'peer_unreachable', 'peer_down', 'repair', 'setting', 'replication_factor',
  'gc_waiting', 'corrupt_chunk', 'integrity_check', 'started', 'conflict']);

// useMonitorData loads each part on its own, so a slow answer (a member
// that stopped answering holds back the replication report for a few
// seconds) never delays the members table.
function useMonitorData() {
  const [d, setD] = useState({});
  const [error, setError] = useState(null);
  const parts = { status: '/status', stats: '/api/cluster-stats', members: '/api/members', parts: '/api/partition-stats', under: '/api/under-replicated', sync: '/api/sync' };
  const load = () => Promise.all(Object.entries(parts).map(([k, url]) => get(url).then(
    (v) => { setD((old) => ({ ...old, [k]: v, at: new Date() })); setError(null); },
    (e) => setError(e),
  )));
  return [d, error, load];
}

function Warnings({ status }) {
  if (!status) return null;
  const w = status.warnings || [];
  if (w.length === 0) return html`<section class="ok-note" aria-label="Security"><p>No warnings: ${status.open_mode ? '' : 'a cluster key is set and HTTP is protected.'}</p></section>`;
  return html`<section aria-label="Warnings" class="warnings">
    ${w.map((x) => html`<p class="warn" role="alert">⚠ ${x}</p>`)}
    ${status.open_mode ? html`<p class="hint">To fix open LAN mode: give every node the same <code>--cluster-key</code> (or <code>CLUSTERF_CLUSTER_KEY</code>) and restart it.</p>` : ''}
  </section>`;
}

function StateBadge({ m }) {
  const kind = { up: 'good', unreachable: 'warn', down: 'bad' }[m.state] || '';
  return html`<${Badge} kind=${kind}>${m.state}<//>`;
}

function DiskBar({ m }) {
  if (!m.disk_total) return html`<span class="muted">${m.error ? 'unknown' : '–'}</span>`;
  const used = m.disk_total - m.disk_free;
  const pct = Math.round((100 * used) / m.disk_total);
  return html`<span class="bar" role="img" aria-label=${`disk ${pct}% used`}><span style=${`width:${pct}%`} class=${pct > 90 ? 'full' : ''}></span></span>
    <span class="small">${fmtBytes(m.disk_free)} free of ${fmtBytes(m.disk_total)}</span>`;
}

function Members({ members }) {
  if (!members) return null;
  const ms = members.members || [];
  return html`<section aria-labelledby="members-h">
    <h2 id="members-h">Members <small>${ms.filter((m) => m.state === 'up').length} of ${ms.length} up</small></h2>
    <div class="table-wrap"><table class="members" id="members">
      <thead><tr><th scope="col">Node</th><th scope="col">State</th><th scope="col">Since</th><th scope="col">Address</th><th scope="col">Role</th>
        <th scope="col" class="num">Chunks</th><th scope="col" class="num">Stored</th><th scope="col">Disk</th><th scope="col" class="num">Partitions</th>
        <th scope="col" class="num">Lag (ops)</th><th scope="col">Version</th></tr></thead>
      <tbody>${ms.map((m) => html`<tr data-node=${m.node_id} data-state=${m.state}>
        <th scope="row">${m.node_id}${m.self ? html` <${Badge}>this node<//>` : ''}</th>
        <td><${StateBadge} m=${m} />${m.error && m.state !== 'up' ? html`<div class="small muted" title=${m.error}>${m.error.slice(0, 80)}</div>` : ''}</td>
        <td title=${fmtTime(m.since)}>${ago(m.since)}${m.state !== 'up' && m.last_seen ? html`<div class="small muted">last seen ${ago(m.last_seen)}</div>` : ''}</td>
        <td class="mono">${m.address || (m.self ? 'here' : '–')}</td>
        <td>${m.no_store ? 'client' : 'storage'}</td>
        <td class="num">${fmtNum(m.chunks)}</td>
        <td class="num">${fmtBytes(m.bytes)}</td>
        <td><${DiskBar} m=${m} /></td>
        <td class="num">${fmtNum(m.partitions)}</td>
        <td class="num">${m.self ? '–' : fmtNum(m.lag_ops)}</td>
        <td class="small">${m.version || ''}</td>
      </tr>`)}</tbody>
    </table></div>
  </section>`;
}

const syncKinds = { idle: 'good', done: 'good', scanning: '', syncing: '', starting: '', refused: 'bad', error: 'bad', failed: 'bad', stopped: 'warn' };

// Sync lists the node's import/export pairs and one-shot jobs (/api/sync):
// state and why, pending and done, conflicts, the last error per file.
function Sync({ sync }) {
  const ps = (sync && sync.pairs) || [];
  if (ps.length === 0) return null;
  const arrow = { import: '→', export: '←', both: '↔' };
  return html`<section aria-labelledby="sync-h">
    <h2 id="sync-h">Import and export <small>${ps.length} pair${ps.length === 1 ? '' : 's'}</small></h2>
    <div class="table-wrap"><table class="members" id="sync">
      <thead><tr><th scope="col">Local folder</th><th scope="col"></th><th scope="col">Cluster folder</th><th scope="col">State</th>
        <th scope="col" class="num">Pending</th><th scope="col" class="num">Copied</th><th scope="col" class="num">In step</th>
        <th scope="col" class="num">Renamed</th><th scope="col" class="num">Deleted</th><th scope="col" class="num">Conflicts</th>
        <th scope="col" class="num">Special skipped</th><th scope="col">Last sync</th></tr></thead>
      <tbody>${ps.map((p) => html`<tr data-pair=${p.id} data-state=${p.state} data-errors=${(p.errors || []).length}>
        <th scope="row" class="mono">${p.local}</th>
        <td title=${p.mode + (p.once ? ' (one-shot)' : '')}>${arrow[p.mode] || p.mode}</td>
        <td class="mono">${p.cluster}</td>
        <td><${Badge} kind=${syncKinds[p.state] || ''}>${p.state}<//>${p.once ? html` <span class="small muted">one-shot</span>` : ''}
          ${p.reason ? html`<div class="small" role="status">${p.reason}</div>` : ''}
          ${(p.warnings || []).map((w) => html`<div class="small warn">${w}</div>`)}
          ${(p.errors || []).length ? html`<details class="sync-errors"><summary class="warn">${p.errors.length} file${p.errors.length === 1 ? '' : 's'} failed; retried</summary>
            <ul class="small mono">${p.errors.map((e) => html`<li>${e.path}: ${e.error} (${e.attempts} attempt${e.attempts === 1 ? '' : 's'})</li>`)}</ul></details>` : ''}</td>
        <td class="num">${fmtNum(p.files_pending)} files<div class="small">${fmtBytes(p.bytes_pending)}</div></td>
        <td class="num">${fmtNum(p.files_done)} files<div class="small">${fmtBytes(p.bytes_done)}</div></td>
        <td class="num">${fmtNum(p.files)}</td>
        <td class="num">${fmtNum(p.renamed)}</td>
        <td class="num">${fmtNum(p.deleted)}</td>
        <td class="num">${fmtNum(p.conflicts)}</td>
        <td class="num">${fmtNum(p.skipped_special)}</td>
        <td title=${p.last_sync ? fmtTime(p.last_sync) : ''}>${p.last_sync ? ago(p.last_sync) : '–'}</td>
      </tr>`)}</tbody>
    </table></div>
  </section>`;
}

function ReplicationFactor({ status, onChanged }) {
  const [value, setValue] = useState('');
  const [msg, setMsg] = useState(null);
  // The field follows the cluster's value until the user edits it: a
  // refresh that lands while they type (the answer to their previous
  // change, say) must not overwrite what they typed.
  const [edited, setEdited] = useState(false);
  const typed = useRef('');
  useEffect(() => { if (status && !edited) setValue(String(status.replication_factor)); }, [status && status.replication_factor]);
  if (!status) return null;
  const submit = async (e) => {
    e.preventDefault();
    const n = parseInt(value, 10);
    const sent = value;
    try {
      await api('PUT', '/api/replication-factor', { replication_factor: n });
      if (typed.current === sent) setEdited(false); // not if they typed on while it went
      setMsg({ ok: true, text: `Replication factor set to ${n}; repair starts now.` });
      onChanged();
    } catch (err) {
      setMsg({ ok: false, text: err.message });
    }
  };
  return html`<form class="rf" onSubmit=${submit} aria-label="Replication factor">
    <label for="rf-input">Replication factor</label>
    <input id="rf-input" type="number" min="1" max="1000" value=${value} onInput=${(e) => { typed.current = e.target.value; setValue(e.target.value); setEdited(true); }} required />
    <button type="submit">Set</button>
    <span class="small muted">every chunk is kept on this many storage members</span>
    ${msg ? html`<p class=${msg.ok ? 'ok' : 'error'} role="status">${msg.text}</p>` : ''}
  </form>`;
}

// classify splits the under-replicated partitions into repairing (a
// repair will fix it) and blocked (it cannot: too few members, disk full).
function classify(reason) {
  return /^(only \d+ storage members|holder .* has no disk space)/.test(reason || '') ? 'blocked' : 'repairing';
}

function Partitions({ parts, under }) {
  if (!parts || !under) return null;
  const withData = (parts.partitions || []).length;
  const short = under.partitions || [];
  const byReason = new Map();
  for (const p of short) {
    const r = p.reason || 'repair in progress';
    if (!byReason.has(r)) byReason.set(r, []);
    byReason.get(r).push(p);
  }
  const repairing = short.filter((p) => classify(p.reason) === 'repairing').length;
  const blocked = short.length - repairing;
  return html`<section aria-labelledby="parts-h">
    <h2 id="parts-h">Partitions</h2>
    <ul class="tiles" id="partition-states">
      <li class="tile good"><strong>${fmtNum(withData - short.length)}</strong> healthy</li>
      <li class="tile warn"><strong>${fmtNum(repairing)}</strong> repairing</li>
      <li class="tile bad"><strong>${fmtNum(blocked)}</strong> under-replicated</li>
      <li class="tile"><strong>${fmtNum(parts.total_partitions - withData)}</strong> without data</li>
      <li class="tile"><strong>${fmtNum(parts.local_partitions)}</strong> held here</li>
    </ul>
    ${short.length === 0 ? html`<p class="ok">Every partition with data has ${under.replication_factor} complete copies.</p>` : html`
      <h3>Why partitions are short of copies</h3>
      <ul class="reasons">${[...byReason.entries()].map(([r, ps]) => html`<li class=${classify(r)}>
        <strong>${ps.length} partition${ps.length === 1 ? '' : 's'}</strong>: ${r}
        <details><summary>which</summary><p class="small mono">${ps.slice(0, 200).map((p) => `${p.partition_id} (${p.holders.length}/${p.replication_factor} copies, ${p.file_count} chunks)`).join(', ')}${ps.length > 200 ? ' …' : ''}</p></details>
      </li>`)}</ul>`}
  </section>`;
}

function Totals({ stats, status }) {
  if (!stats) return null;
  const rc = status && status.reclaim;
  return html`<section aria-label="Totals"><ul class="tiles" id="totals">
    <li class="tile"><strong>${stats.connected_nodes}/${stats.total_nodes}</strong> nodes connected</li>
    <li class="tile"><strong>${fmtNum(stats.partition_stats.total_files)}</strong> files</li>
    <li class="tile"><strong>${fmtNum(stats.total_dirs)}</strong> directories</li>
    <li class="tile"><strong>${fmtBytes(stats.total_bytes)}</strong> of content</li>
    <li class=${'tile ' + (stats.conflicts ? 'warn' : '')}><strong>${fmtNum(stats.conflicts)}</strong> conflict copies</li>
    ${rc ? html`<li class=${'tile ' + (rc.waiting_for ? 'warn' : '')}><strong>${fmtBytes(rc.collected_bytes)}</strong> reclaimed${rc.waiting_for ? html`<br /><small>GC waits for ${rc.waiting_for}</small>` : ''}</li>` : ''}
  </ul></section>`;
}

function Events({ events }) {
  return html`<section aria-labelledby="events-h">
    <h2 id="events-h">Recent events</h2>
    ${events.length === 0 ? html`<p class="muted">Nothing has happened yet.</p>` : ''}
    <ol class="events" id="events" aria-live="polite">${events.slice(0, 100).map((e) => html`<li class=${'ev ' + e.level} data-kind=${e.kind}>
      <time datetime=${e.time} title=${fmtTime(e.time)}>${new Date(e.time).toLocaleTimeString('en-GB')}</time>
      <span class="kind">${e.kind.replace(/_/g, ' ')}</span> ${e.message}</li>`)}</ol>
  </section>`;
}

// mergeEvents joins fetched and live events, newest first, each once.
function mergeEvents(a, b) {
  const bySeq = new Map();
  for (const e of [...a, ...b]) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((x, y) => y.seq - x.seq).slice(0, 200);
}

function App() {
  const [d, error, load] = useMonitorData();
  const [events, setEvents] = useState([]);
  const reload = useRef(debounce(() => load(), 250)).current;
  useEffect(() => {
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, []);
  useStream({
    reset: async (hello) => {
      load();
      const [epoch, feed] = String(hello.cursor || '').split('.');
      try {
        const r = await get(`/api/events?since=${epoch}.${feed}.0&timeout=0`);
        setEvents((live) => mergeEvents(r.events || [], live));
      } catch (_) { /* the stream goes on; the list stays */ }
    },
    event: (e) => {
      setEvents((es) => mergeEvents([e], es));
      if (clusterKinds.has(e.kind)) reload();
    },
    change: () => reload(),
    bulk: () => reload(),
  });
  const st = d.status;
  return html`<${Shell} active="/monitor" title="Monitor" actions=${html`<span class="small muted" aria-live="polite">${d.at ? 'updated ' + d.at.toLocaleTimeString('en-GB') : ''}</span>`}>
    <${ErrorNote} error=${error} />
    <${Warnings} status=${st} />
    <${Totals} stats=${d.stats} status=${st} />
    <${Members} members=${d.members} />
    <${Sync} sync=${d.sync} />
    <div class="cols">
      <div><${ReplicationFactor} status=${st} onChanged=${load} /><${Partitions} parts=${d.parts} under=${d.under} /></div>
      <${Events} events=${events} />
    </div>
  <//>`;
}

mount(App);
