// The file browser's details dialog: metadata, content versions, chunks
// with the holders placement wants and those with a verified copy, and
// why a file is not fully replicated (GET /api/details/).
import { html, useState, useEffect, Modal, ErrorNote, Badge, get, encPath, fmtBytes, fmtTime } from '/ui/js/lib.js';

function ChunkTable({ chunks }) {
  if (!chunks || chunks.length === 0) return null;
  return html`<div class="table-wrap"><table class="chunks">
    <caption>Chunks of the shown version</caption>
    <thead><tr><th scope="col">#</th><th scope="col">Chunk</th><th scope="col" class="num">Partition</th><th scope="col">Holders (verified copy ✓)</th><th scope="col">State</th></tr></thead>
    <tbody>${chunks.map((c, i) => html`<tr>
      <td>${i}</td><td class="mono small" title=${c.chunk_id}>${c.chunk_id.slice(0, 16)}…</td><td class="num">${c.partition}</td>
      <td>${c.holders.map((h) => html`<span class=${'holder ' + (c.verified.includes(h) ? 'has' : 'lacks')}>${h}${c.verified.includes(h) ? ' ✓' : ' ✗'}</span> `)}</td>
      <td>${c.verified.length >= c.want ? html`<${Badge} kind="good">${c.verified.length}/${c.want}<//>` : html`<${Badge} kind="warn">${c.verified.length}/${c.want}<//> <span class="small">${c.reason}</span>`}</td>
    </tr>`)}</tbody></table></div>`;
}

export function Details({ entry, onClose, onKeep }) {
  const [d, setD] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => { get('/api/details/' + encPath(entry.path)).then(setD, setErr); }, [entry.path]);
  return html`<${Modal} title=${'Details: ' + entry.name} onClose=${onClose} wide>
    <${ErrorNote} error=${err} />
    ${!d && !err ? html`<p class="muted">Loading…</p>` : ''}
    ${d ? html`<dl class="props">
        <dt>Path</dt><dd class="mono">${d.path}</dd>
        <dt>Kind</dt><dd>${d.kind}${d.conflict_of ? html` <${Badge} kind="warn">conflict copy of ${d.conflict_of}<//>` : ''}</dd>
        ${d.kind === 'file' ? html`<dt>Size</dt><dd>${fmtBytes(d.size)} (${d.size.toLocaleString('en-US')} bytes)</dd>` : ''}
        <dt>Modified</dt><dd>${fmtTime(d.modified_at)}</dd>
        <dt>Created</dt><dd>${fmtTime(d.created_at)}</dd>
        <dt>Mode</dt><dd class="mono">${d.mode}</dd>
        ${d.checksum ? html`<dt>SHA-256</dt><dd class="mono small">${d.checksum}</dd>` : ''}
        <dt>Inode</dt><dd class="mono small"><a href=${'/crdt?inode=' + d.inode}>${d.inode}</a></dd>
        <dt>Replication</dt><dd id="replication-state">${d.replication}${(d.reasons || []).map((r) => html`<div class="warn small">${r}</div>`)}</dd>
      </dl>
      ${d.versions.length > 1 ? html`<h3>Concurrent versions</h3><ul class="versions">${d.versions.map((v) => html`<li>
        ${v.winner ? html`<${Badge} kind="good">shown<//>` : html`<${Badge} kind="warn">conflict copy<//>`} ${v.id} · ${fmtBytes(v.size)} · ${fmtTime(v.time)}</li>`)}</ul>
        <p class="small">Use “Keep this” on the entry to keep one version and drop the others.</p>` : ''}
      ${d.conflict_of ? html`<p><button class="primary" onClick=${() => onKeep(entry)}>Keep this one</button></p>` : ''}
      <${ChunkTable} chunks=${d.chunks} />` : ''}
  <//>`;
}
