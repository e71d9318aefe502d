// Shared parts of the dashboard's pages: the API client, the live event
// stream, formatting, the navigation bar. Every page is a Preact app
// written with htm templates (no build step).
import { h, render } from '/ui/vendor/preact.module.js';
import { useState, useEffect, useRef, useMemo, useCallback } from '/ui/vendor/hooks.module.js';
import htm from '/ui/vendor/htm.module.js';

export const html = htm.bind(h);
export { h, render, useState, useEffect, useRef, useMemo, useCallback };

// ApiError carries the HTTP status and the server's {"error"} message.
export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// api calls a JSON endpoint of the REST API and returns the decoded answer.
export async function api(method, path, body, headers) {
  const opts = { method, headers: { Accept: 'application/json', ...(headers || {}) }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!resp.ok) {
    throw new ApiError(resp.status, (data && data.error) || `${resp.status} ${resp.statusText}`);
  }
  return data;
}

export const get = (path) => api('GET', path);

// filesURL is the REST URL of a cluster path ("/a b/c" -> /api/files/a%20b/c).
export function encPath(p) {
  return p.split('/').filter(Boolean).map(encodeURIComponent).join('/');
}
export const filesURL = (p) => '/api/files/' + encPath(p);

export function fmtBytes(n) {
  if (n == null || isNaN(n)) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let x = Number(n);
  while (Math.abs(x) >= 1024 && i < u.length - 1) { x /= 1024; i++; }
  return (i === 0 ? x.toFixed(0) : x.toFixed(x < 10 ? 1 : 0)) + ' ' + u[i];
}

export function fmtNum(n) {
  if (n == null) return '–';
  return Number(n).toLocaleString('en-US');
}

const zeroTime = (t) => !t || t.startsWith('0001-');

export function fmtTime(t) {
  if (zeroTime(t)) return '–';
  const d = new Date(t);
  return d.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function ago(t) {
  if (zeroTime(t)) return 'never';
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (s < 2) return 'just now';
  if (s < 90) return s + ' s ago';
  if (s < 5400) return Math.round(s / 60) + ' min ago';
  if (s < 129600) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' days ago';
}

export function fmtDuration(sec) {
  if (sec == null) return '–';
  if (sec < 1) return (sec * 1000).toFixed(sec < 0.01 ? 2 : 0) + ' ms';
  if (sec < 120) return sec.toFixed(1) + ' s';
  if (sec < 7200) return Math.round(sec / 60) + ' min';
  return (sec / 3600).toFixed(1) + ' h';
}

// debounce runs fn once, ms after the last call.
export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// The live stream: one EventSource per page on /api/events. Subscribers
// get namespace changes, bulk notices, cluster events and resets (a reset
// means: reload your state; it also comes on the first connect, as
// "hello", so a page loads what it shows after it is subscribed and so
// misses nothing). EventSource reconnects by itself and resumes from the
// last id (the cursor).
const subscribers = new Set();
let source = null;
const streamState = { connected: false, opened: false, listeners: new Set() };

function dispatch(kind, data) {
  for (const s of subscribers) {
    if (s[kind]) s[kind](data);
  }
}

function setConnected(v) {
  if (streamState.connected === v && streamState.opened) return;
  streamState.connected = v;
  streamState.opened = true;
  for (const l of streamState.listeners) l({ opened: true, connected: v });
}

function openStream() {
  if (source) return;
  source = new EventSource('/api/events');
  setConnected(false);
  const on = (name, kind) => source.addEventListener(name, (e) => {
    let data = null;
    try { data = JSON.parse(e.data); } catch (_) { return; }
    dispatch(kind, data);
  });
  source.addEventListener('open', () => setConnected(true));
  source.addEventListener('error', () => setConnected(false));
  on('hello', 'reset');
  on('reset', 'reset');
  on('change', 'change');
  on('bulk', 'bulk');
  on('event', 'event');
}

// useStream subscribes the component to the live stream.
export function useStream(handlers) {
  const ref = useRef(handlers);
  ref.current = handlers;
  useEffect(() => {
    const sub = {
      reset: (d) => ref.current.reset && ref.current.reset(d),
      change: (d) => ref.current.change && ref.current.change(d),
      bulk: (d) => ref.current.bulk && ref.current.bulk(d),
      event: (d) => ref.current.event && ref.current.event(d),
    };
    subscribers.add(sub);
    openStream();
    return () => subscribers.delete(sub);
  }, []);
}

// useConnected says whether the page's stream is open ({opened: false}
// on pages without one).
export function useConnected() {
  const [c, setC] = useState({ opened: streamState.opened, connected: streamState.connected });
  useEffect(() => {
    streamState.listeners.add(setC);
    return () => streamState.listeners.delete(setC);
  }, []);
  return c;
}

// useAsync loads data with fn (a promise) and reloads on reload().
export function useAsync(fn, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const load = useCallback(() => {
    const my = ++seq.current;
    return fn().then(
      (data) => { if (my === seq.current) setState({ data, error: null, loading: false }); },
      (error) => { if (my === seq.current) setState((s) => ({ data: s.data, error, loading: false })); },
    );
  }, deps);
  useEffect(() => { load(); }, [load]);
  return [state, load];
}

let uiInfo = null;
// info returns GET /api/ui (cached): node id, version, features.
export function info() {
  if (!uiInfo) uiInfo = get('/api/ui').catch(() => ({ node_id: '', features: {} }));
  return uiInfo;
}

const navItems = [
  ['/monitor', 'Monitor'], ['/files/', 'Files'], ['/cluster-visualizer.html', 'Cluster'],
  ['/crdt', 'CRDT'], ['/metrics', 'Metrics'], ['/profiling', 'Profiling'],
];

function Nav({ active }) {
  const [ui, setUI] = useState(null);
  const connected = useConnected();
  useEffect(() => { info().then(setUI); }, []);
  return html`<header class="top">
    <a class="brand" href="/monitor" aria-label="clusterf home"><span class="frog" aria-hidden="true"></span>clusterf</a>
    <nav aria-label="Pages"><ul>
      ${navItems.map(([href, label]) => html`<li><a href=${href} aria-current=${active === href ? 'page' : undefined}>${label}</a></li>`)}
    </ul></nav>
    <span class="node-id" title="the node serving this page">${ui ? ui.node_id : ''}${ui && ui.version ? html` <small>${ui.version}</small>` : ''}</span>
    ${connected.opened ? html`<span class=${'live ' + (connected.connected ? 'on' : 'off')} role="status" aria-live="polite">${connected.connected ? 'live' : 'reconnecting…'}</span>` : ''}
  </header>`;
}

// Shell is the page frame: navigation, title, content.
export function Shell({ active, title, children, actions }) {
  useEffect(() => { document.title = title + ' · clusterf'; }, [title]);
  return html`<${Nav} active=${active} />
    <main id="main" tabindex="-1">
      <div class="page-head"><h1>${title}</h1>${actions || ''}</div>
      ${children}
    </main>`;
}

export function ErrorNote({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${String(error.message || error)}</p>`;
}

// mount renders a page's root component into #app.
export function mount(App) {
  const root = document.getElementById('app');
  root.textContent = '';
  render(html`<${App} />`, root);
}

// Modal is an accessible dialog (focus moves in; Escape closes).
export function Modal({ title, onClose, children, wide }) {
  const ref = useRef(null);
  useEffect(() => {
    const prev = document.activeElement;
    const el = ref.current;
    const first = el && el.querySelector('input, button, select, textarea, a[href]');
    if (first) first.focus();
    const key = (e) => { if (e.key === 'Escape') onClose(); };
    document.addEventListener('keydown', key);
    return () => { document.removeEventListener('keydown', key); if (prev && prev.focus) prev.focus(); };
  }, []);
  return html`<div class="backdrop" onClick=${(e) => { if (e.target === e.currentTarget) onClose(); }}>
    <div class=${'modal' + (wide ? ' wide' : '')} role="dialog" aria-modal="true" aria-label=${title} ref=${ref}>
      <div class="modal-head"><h2>${title}</h2><button class="icon" onClick=${onClose} aria-label="Close">×</button></div>
      ${children}
    </div>
  </div>`;
}

export function Badge({ kind, children }) {
  return html`<span class=${'badge ' + (kind || '')}>${children}</span>`;
}
