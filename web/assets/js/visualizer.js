// /cluster-visualizer.html: the topology. Members are nodes (colour: up,
// unreachable, down; size: partitions placed on it); links come from each
// member's own view of its peers (a link one side sees down is red and
// dashed); chunks fetched between polls show as moving arrows (repair
// traffic). Zoom, pan and drag with the mouse; click a member for its
// details; a partition number highlights its holders. Large clusters hide
// healthy links unless asked (they are every pair).
import cytoscape from '/ui/vendor/cytoscape.module.js';
import { html, mount, Shell, get, useState, useEffect, useRef, useStream, debounce, fmtBytes, fmtNum, ago, ErrorNote, Badge } from '/ui/js/lib.js';

const colors = { up: '#2e8b57', unreachable: '#d08700', down: '#c0392b' };
const manyNodes = 30;

const style = [
  { selector: 'node', style: { 'background-color': 'data(color)', label: 'data(id)', color: '#1b1f23', 'font-size': 11,
    'text-valign': 'bottom', 'text-margin-y': 4, width: 'data(size)', height: 'data(size)', 'border-width': 2, 'border-color': '#fff' } },
  { selector: 'node.self', style: { 'border-color': '#1b4f8a', 'border-width': 4 } },
  { selector: 'node.client', style: { shape: 'round-rectangle' } },
  { selector: 'node:selected', style: { 'border-color': '#111', 'border-width': 4 } },
  { selector: 'node.holder', style: { 'border-color': '#7b2cbf', 'border-width': 6 } },
  { selector: 'edge', style: { width: 1, 'line-color': '#b8c2cc', 'curve-style': 'haystack', opacity: 0.7 } },
  { selector: 'edge.broken', style: { 'line-color': '#c0392b', 'line-style': 'dashed', width: 2, 'curve-style': 'straight' } },
  { selector: 'edge.flow', style: { 'line-color': '#1b6fd1', width: 4, 'curve-style': 'straight', 'target-arrow-shape': 'triangle',
    'target-arrow-color': '#1b6fd1', 'line-style': 'dashed', 'line-dash-pattern': [8, 4], label: 'data(rate)', 'font-size': 10, 'text-rotation': 'autorotate' } },
  { selector: 'edge.hidden', style: { display: 'none' } },
];

// graphOf turns /api/members into elements.
function graphOf(rep, showAll, flows) {
  const ms = rep.members || [];
  const maxParts = Math.max(1, ...ms.map((m) => m.partitions || 0));
  const nodes = ms.map((m) => ({ group: 'nodes', data: { id: m.node_id, color: colors[m.state] || '#888', size: 24 + 30 * ((m.partitions || 0) / maxParts) },
    classes: [m.self ? 'self' : '', m.no_store ? 'client' : ''].join(' ') }));
  const ids = new Set(ms.map((m) => m.node_id));
  const pairs = new Map();
  for (const m of ms) {
    for (const l of m.links || []) {
      if (!ids.has(l.node_id)) continue;
      const [a, b] = [m.node_id, l.node_id].sort();
      const key = a + '|' + b;
      const p = pairs.get(key) || { a, b, ok: true };
      if (!l.up) p.ok = false;
      pairs.set(key, p);
    }
  }
  for (const m of ms) { // a member that does not answer: its links as we see them
    if (m.state !== 'up' && !m.self) {
      const self = ms.find((x) => x.self);
      if (self) {
        const [a, b] = [self.node_id, m.node_id].sort();
        pairs.set(a + '|' + b, { a, b, ok: false });
      }
    }
  }
  const edges = [...pairs.values()].map((p) => ({ group: 'edges', data: { id: p.a + '|' + p.b, source: p.a, target: p.b },
    classes: p.ok ? (showAll ? '' : 'hidden') : 'broken' }));
  for (const f of flows) {
    if (ids.has(f.from) && ids.has(f.to)) {
      edges.push({ group: 'edges', data: { id: 'flow:' + f.from + '>' + f.to, source: f.from, target: f.to, rate: fmtBytes(f.rate) + '/s' }, classes: 'flow' });
    }
  }
  return { nodes, edges, pairs: pairs.size };
}

// flowsOf compares two /api/members answers: chunks fetched between them.
function flowsOf(prev, cur, seconds) {
  if (!prev || seconds <= 0) return [];
  const before = new Map(prev.members.map((m) => [m.node_id, m.fetched || {}]));
  const out = [];
  for (const m of cur.members) {
    const old = before.get(m.node_id) || {};
    for (const [from, t] of Object.entries(m.fetched || {})) {
      const d = t.bytes - ((old[from] && old[from].bytes) || 0);
      if (d > 0) out.push({ from, to: m.node_id, rate: d / seconds });
    }
  }
  return out;
}

function NodePanel({ m, parts }) {
  if (!m) return html`<p class="muted">Click a member for its details.</p>`;
  const held = parts ? parts.filter((p) => p.holders.includes(m.node_id)).map((p) => p.partition_id) : [];
  return html`<div class="node-panel" aria-live="polite">
    <h2>${m.node_id} ${m.self ? html`<${Badge}>this node<//>` : ''}</h2>
    <dl class="props">
      <dt>State</dt><dd>${m.state} (${ago(m.since)})</dd>
      <dt>Role</dt><dd>${m.no_store ? 'client (stores nothing)' : 'storage'}</dd>
      <dt>Address</dt><dd class="mono">${m.address || 'here'}</dd>
      <dt>Chunks</dt><dd>${fmtNum(m.chunks)} (${fmtBytes(m.bytes)})</dd>
      <dt>Disk</dt><dd>${m.disk_total ? fmtBytes(m.disk_free) + ' free of ' + fmtBytes(m.disk_total) : 'unknown'}</dd>
      <dt>Partitions</dt><dd>${fmtNum(m.partitions)} placed here, ${held.length} held complete</dd>
      <dt>Lag</dt><dd>${m.self ? '–' : fmtNum(m.lag_ops) + ' ops'}</dd>
      ${m.error ? html`<dt>Error</dt><dd class="small">${m.error}</dd>` : ''}
    </dl>
    <h3>Its view of its peers</h3>
    <ul class="links">${(m.links || []).map((l) => html`<li class=${l.up ? 'good' : 'bad'}>${l.node_id}: ${l.up ? 'up' : 'down'}${l.lag_ops ? `, ${l.lag_ops} ops behind` : ''}</li>`)}</ul>
    ${held.length ? html`<details><summary>Partitions held (${held.length})</summary><p class="small mono">${held.join(', ')}</p></details>` : ''}
  </div>`;
}

function App() {
  const box = useRef(null);
  const cyRef = useRef(null);
  const roRef = useRef(null);
  const prevRef = useRef(null);
  const [rep, setRep] = useState(null);
  const [parts, setParts] = useState(null);
  const [error, setError] = useState(null);
  const [showAll, setShowAll] = useState(null);
  const [sel, setSel] = useState(null);
  const [part, setPart] = useState('');
  const [stats, setStats] = useState({});
  const showRef = useRef(showAll);
  showRef.current = showAll;

  const draw = (r, flows) => {
    const many = (r.members || []).length > manyNodes;
    const all = showRef.current === null ? !many : showRef.current;
    const g = graphOf(r, all, flows);
    let cy = cyRef.current;
    const t0 = performance.now();
    if (!cy) {
      cy = cytoscape({ container: box.current, style, elements: [...g.nodes, ...g.edges], wheelSensitivity: 0.3, maxZoom: 1.6, minZoom: 0.1,
        layout: many ? { name: 'circle', animate: false } : { name: 'cose', animate: false, randomize: false } });
      cy.on('tap', 'node', (e) => setSel(e.target.id()));
      cy.on('tap', (e) => { if (e.target === cy) setSel(null); });
      // A resized box (a phone turned, a narrower window) refits the
      // graph, unless the user has panned or zoomed it themselves.
      let moved = false;
      cy.on('scrollzoom pinchzoom dragpan', () => { moved = true; });
      roRef.current = new ResizeObserver(() => { cy.resize(); if (!moved) cy.fit(undefined, 30); });
      roRef.current.observe(box.current);
      cyRef.current = cy;
      window.clusterfTopology = cy;
      const first = performance.now() - t0;
      box.current.dataset.firstRenderMs = first.toFixed(1);
    } else {
      const want = new Set([...g.nodes, ...g.edges].map((e) => e.data.id));
      cy.batch(() => {
        cy.elements().forEach((el) => { if (!want.has(el.id())) cy.remove(el); });
        let added = false;
        for (const el of [...g.nodes, ...g.edges]) {
          const have = cy.getElementById(el.data.id);
          if (have.length) { have.data(el.data); have.classes(el.classes); } else { cy.add(el); added = true; }
        }
        if (added) cy.layout(many ? { name: 'circle', animate: false } : { name: 'cose', animate: false, randomize: false }).run();
      });
    }
    box.current.dataset.renderedNodes = String(cy.nodes().length);
    if (!box.current.dataset.renderedAt) box.current.dataset.renderedAt = performance.now().toFixed(0); // ms since navigation
    setStats({ nodes: g.nodes.length, links: g.pairs, flows: flows.length });
  };

  const load = async () => {
    try {
      const [r, p] = await Promise.all([get('/api/members'), get('/api/partition-stats')]);
      const now = Date.now();
      const prev = prevRef.current;
      const flows = prev ? flowsOf(prev.rep, r, (now - prev.at) / 1000) : [];
      prevRef.current = { rep: r, at: now };
      setRep(r);
      setParts(p.partitions || []);
      setError(null);
      draw(r, flows);
    } catch (e) {
      setError(e);
    }
  };
  const reload = useRef(debounce(load, 300)).current;
  useEffect(() => {
    load();
    const t = setInterval(load, 3000);
    return () => { clearInterval(t); if (roRef.current) roRef.current.disconnect(); if (cyRef.current) cyRef.current.destroy(); };
  }, []);
  useEffect(() => { if (rep) draw(rep, []); }, [showAll]);
  useStream({ reset: () => reload(), event: (e) => { if (/^peer_|repair|setting|replication_factor/.test(e.kind)) reload(); } });
  useEffect(() => {
    const cy = cyRef.current;
    if (!cy || !parts) return;
    cy.nodes().removeClass('holder');
    const p = parts.find((x) => x.partition_id === String(part));
    if (p) p.holders.forEach((h) => cy.getElementById(h).addClass('holder'));
  }, [part, parts]);
  const members = (rep && rep.members) || [];
  const m = members.find((x) => x.node_id === sel);
  const found = parts && part !== '' ? parts.find((x) => x.partition_id === String(part)) : null;
  return html`<${Shell} active="/cluster-visualizer.html" title="Cluster">
    <${ErrorNote} error=${error} />
    <div class="viz-bar">
      <span>${stats.nodes || 0} members, ${stats.links || 0} links${stats.flows ? `, ${stats.flows} repair transfers` : ''}</span>
      <label><input type="checkbox" checked=${showAll === null ? members.length <= manyNodes : showAll} onChange=${(e) => setShowAll(e.target.checked)} /> show healthy links</label>
      <label for="part-input">Partition</label>
      <input id="part-input" type="number" min="0" value=${part} onInput=${(e) => setPart(e.target.value)} placeholder="0…1023" />
      ${part !== '' ? html`<span class="small">${found ? 'held by ' + found.holders.join(', ') : 'no data in it'}</span>` : ''}
      <button onClick=${() => cyRef.current && cyRef.current.fit()}>Fit</button>
    </div>
    <div class="viz">
      <div id="topology" class="topology" ref=${box} role="img" aria-label=${`Topology of ${members.length} members`}></div>
      <aside class="side"><${NodePanel} m=${m} parts=${parts} /></aside>
    </div>
    <h2 class="sr-only">Members</h2>
    <ul id="node-list" class="legend">${members.map((x) => html`<li data-node=${x.node_id} data-state=${x.state}>
      <button class="link" onClick=${() => { setSel(x.node_id); const cy = cyRef.current; if (cy) cy.getElementById(x.node_id).select(); }}>
        <span class="dot" style=${'background:' + (colors[x.state] || '#888')}></span>${x.node_id}</button></li>`)}</ul>
  <//>`;
}

mount(App);
