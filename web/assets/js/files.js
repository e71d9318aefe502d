// /files/<path>: the file browser over the whole cluster namespace.
import {
  html, mount, Shell, api, get, useState, useEffect, useRef, useMemo, useStream, debounce, info,
  fmtBytes, fmtTime, ErrorNote, Modal, Badge, filesURL, encPath,
} from '/ui/js/lib.js';
import { Preview, Thumb, previewKind } from '/ui/js/preview.js';
import { Details } from '/ui/js/details.js';
import { SearchBox, SearchResults, useSearch } from '/ui/js/search.js';

// The directory shown: the page path after /files/.
function currentDir() {
  const rest = decodeURIComponent(location.pathname.replace(/^\/files\/?/, ''));
  return '/' + rest.split('/').filter(Boolean).join('/');
}
const join = (dir, name) => (dir === '/' ? '' : dir) + '/' + name;
const parentOf = (p) => p.replace(/\/[^/]*$/, '') || '/';
const pageURL = (dir) => '/files/' + encPath(dir) + (dir === '/' ? '' : '/');

function Breadcrumbs({ dir, go }) {
  const parts = dir.split('/').filter(Boolean);
  const link = (p, label) => html`<a href=${pageURL(p)} onClick=${(e) => { e.preventDefault(); go(p); }}>${label}</a>`;
  return html`<nav aria-label="Path" class="crumbs"><ol>
    <li>${link('/', 'cluster')}</li>
    ${parts.map((n, i) => html`<li>${link('/' + parts.slice(0, i + 1).join('/'), n)}</li>`)}
  </ol></nav>`;
}

const sorters = {
  name: (a, b) => (b.is_directory - a.is_directory) || a.name.localeCompare(b.name),
  size: (a, b) => (b.is_directory - a.is_directory) || a.size - b.size || a.name.localeCompare(b.name),
  modified: (a, b) => (b.is_directory - a.is_directory) || new Date(a.modified_at) - new Date(b.modified_at),
};

function SortHeader({ k, label, sort, setSort, cls }) {
  const on = sort.key === k;
  return html`<th scope="col" class=${cls || ''} aria-sort=${on ? (sort.asc ? 'ascending' : 'descending') : 'none'}>
    <button class="link" onClick=${() => setSort({ key: k, asc: on ? !sort.asc : true })}>${label}${on ? (sort.asc ? ' ▲' : ' ▼') : ''}</button></th>`;
}

// upload PUTs one file with per-file progress (the browser streams the
// body from disk; the server streams it into the cluster).
function uploadOne(item, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', filesURL(item.path));
    if (item.file.lastModified) xhr.setRequestHeader('X-ClusterF-Modified-At', new Date(item.file.lastModified).toISOString());
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      let msg = xhr.status + ' ' + xhr.statusText;
      try { msg = JSON.parse(xhr.responseText).error || msg; } catch (_) { /* not JSON */ }
      reject(new Error(msg));
    };
    xhr.onerror = () => reject(new Error('network error'));
    xhr.send(item.file);
  });
}

// filesOfDrop walks dropped items (folders too) into {file, rel} pairs.
async function filesOfDrop(dt) {
  const out = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, rel: prefix + file.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, prefix + entry.name + '/');
      }
    }
  };
  const entries = [...(dt.items || [])].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  if (entries.length > 0) {
    for (const e of entries) await walk(e, '');
  } else {
    for (const f of dt.files) out.push({ file: f, rel: f.name });
  }
  return out;
}

function Uploads({ uploads, clear }) {
  if (uploads.length === 0) return null;
  const done = uploads.filter((u) => u.state !== 'uploading' && u.state !== 'queued').length;
  return html`<section class="uploads" aria-label="Uploads">
    <h2>Uploads <small>${done} of ${uploads.length} done</small> ${done === uploads.length ? html`<button class="link" onClick=${clear}>clear</button>` : ''}</h2>
    <ul>${uploads.map((u) => html`<li class=${u.state} data-upload=${u.path}>
      <span class="name">${u.path}</span>
      <progress max="1" value=${u.progress} aria-label=${'upload of ' + u.path}></progress>
      <span class="small">${u.state === 'error' ? u.error : u.state === 'done' ? 'done' : Math.round(u.progress * 100) + '%'} · ${fmtBytes(u.size)}</span>
    </li>`)}</ul>
  </section>`;
}

function PathDialog({ title, label, initial, onSubmit, onClose, submit }) {
  const [v, setV] = useState(initial);
  const [err, setErr] = useState(null);
  const go = async (e) => {
    e.preventDefault();
    try { await onSubmit(v); onClose(); } catch (x) { setErr(x); }
  };
  return html`<${Modal} title=${title} onClose=${onClose}>
    <form onSubmit=${go} class="stack">
      <label for="pd-input">${label}</label>
      <input id="pd-input" value=${v} onInput=${(e) => setV(e.target.value)} required autocomplete="off" />
      <${ErrorNote} error=${err} />
      <div class="buttons"><button type="button" onClick=${onClose}>Cancel</button><button type="submit" class="primary">${submit}</button></div>
    </form>
  <//>`;
}

function ConfirmDelete({ entry, onClose, onDone }) {
  const [err, setErr] = useState(null);
  const del = async () => {
    try {
      await api('DELETE', filesURL(entry.path) + (entry.is_directory ? '?recursive=true' : ''));
      onDone();
      onClose();
    } catch (x) { setErr(x); }
  };
  return html`<${Modal} title="Delete" onClose=${onClose}>
    <p>Delete <strong>${entry.path}</strong>${entry.is_directory ? ' and everything in it' : ''}? This removes it on every member.</p>
    <${ErrorNote} error=${err} />
    <div class="buttons"><button onClick=${onClose}>Cancel</button><button class="danger" onClick=${del}>Delete</button></div>
  <//>`;
}

function Row({ e, hasCopies, features, open, act }) {
  const conflict = e.conflict_of;
  return html`<tr data-name=${e.name} class=${conflict ? 'conflict' : ''}>
    <td class="thumbcell"><${Thumb} e=${e} features=${features} /></td>
    <th scope="row" class="name">
      ${e.is_directory
        ? html`<a href=${pageURL(e.path)} onClick=${(ev) => { ev.preventDefault(); open(e.path); }}>${e.name}/</a>`
        : previewKind(e) ? html`<button class="link" onClick=${() => act('preview', e)}>${e.name}</button>` : html`<span>${e.name}</span>`}
      ${conflict ? html` <${Badge} kind="warn">conflict copy of ${conflict}<//>` : ''}
      ${hasCopies ? html` <${Badge} kind="warn">has conflict copies<//>` : ''}
    </th>
    <td class="num">${e.is_directory ? '' : fmtBytes(e.size)}</td>
    <td class="small">${fmtTime(e.modified_at)}</td>
    <td class="small">${e.kind === 'file' ? e.content_type : e.kind}</td>
    <td class="actions">
      ${!e.is_directory && e.kind === 'file' ? html`<a class="button" href=${filesURL(e.path)} download=${e.name} aria-label=${'Download ' + e.name}>Download</a>` : ''}
      <button onClick=${() => act('details', e)} aria-label=${'Details of ' + e.name}>Details</button>
      ${conflict || hasCopies ? html`<button onClick=${() => act('keep', e)} aria-label=${'Keep ' + e.name}>Keep this</button>` : ''}
      ${e.conflict_copy ? '' : html`<button onClick=${() => act('rename', e)} aria-label=${'Rename ' + e.name}>Rename</button>
      <button onClick=${() => act('move', e)} aria-label=${'Move ' + e.name}>Move</button>`}
      <button class="danger" onClick=${() => act('delete', e)} aria-label=${'Delete ' + e.name}>Delete</button>
    </td>
  </tr>`;
}

function App() {
  const [dir, setDir] = useState(currentDir());
  const [listing, setListing] = useState(null);
  const [error, setError] = useState(null);
  const [sort, setSort] = useState({ key: 'name', asc: true });
  const [dialog, setDialog] = useState(null);
  const [uploads, setUploads] = useState([]);
  const [drag, setDrag] = useState(false);
  const [features, setFeatures] = useState({});
  const [note, setNote] = useState(null);
  const [q, setQ] = useState(new URLSearchParams(location.search).get('q') || '');
  const [tick, setTick] = useState(0);
  const search = useSearch(q, tick);
  const searching = q.trim() !== '';
  const searchingRef = useRef(searching);
  searchingRef.current = searching;
  const research = useRef(debounce(() => setTick((n) => n + 1), 500)).current;
  const dirRef = useRef(dir);
  dirRef.current = dir;
  const fileInput = useRef(null);

  const load = async (d = dirRef.current) => {
    try {
      const l = await get(filesURL(d) + (d === '/' ? '' : '/'));
      if (d === dirRef.current) { setListing(l); setError(null); }
    } catch (e) {
      if (d === dirRef.current) { setError(e); setListing(null); }
    }
  };
  const reload = useRef(debounce(() => load(), 150)).current;
  useEffect(() => { load(dir); }, [dir]);
  useEffect(() => {
    info().then((i) => setFeatures(i.features || {}));
    const pop = () => setDir(currentDir());
    window.addEventListener('popstate', pop);
    return () => window.removeEventListener('popstate', pop);
  }, []);
  useStream({
    reset: () => load(),
    bulk: () => reload(),
    change: (c) => {
      if (searchingRef.current) research(); // results appear as files are written
      const d = dirRef.current;
      const touches = (p) => p && (parentOf(p) === d || p === d);
      if (touches(c.path) || touches(c.old_path) || c.kind === 'reset') reload();
    },
  });
  const go = (d) => { history.pushState(null, '', pageURL(d)); setDir(d); setQ(''); };

  const entries = useMemo(() => {
    const es = (listing && listing.entries) ? listing.entries.slice() : [];
    es.sort(sorters[sort.key]);
    if (!sort.asc) es.reverse();
    return es;
  }, [listing, sort]);
  const copiesOf = useMemo(() => new Set(entries.map((e) => e.conflict_of).filter(Boolean)), [entries]);

  const startUploads = async (items) => {
    const base = dirRef.current;
    const batch = items.map(({ file, rel }) => ({ path: join(base, rel), file, size: file.size, progress: 0, state: 'queued' }));
    setUploads((u) => [...u, ...batch]);
    const update = (it, patch) => { Object.assign(it, patch); setUploads((u) => u.slice()); };
    let next = 0;
    const worker = async () => {
      while (next < batch.length) {
        const it = batch[next++];
        update(it, { state: 'uploading' });
        try {
          await uploadOne(it, (p) => update(it, { progress: p }));
          update(it, { state: 'done', progress: 1 });
        } catch (e) {
          update(it, { state: 'error', error: e.message });
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    load();
  };
  const onDrop = async (e) => {
    e.preventDefault();
    setDrag(false);
    const items = await filesOfDrop(e.dataTransfer);
    if (items.length) startUploads(items);
  };
  const act = (what, e) => {
    if (what === 'keep') {
      api('POST', '/api/conflicts/keep', { path: e.path }).then(
        (m) => { setNote(`Kept ${e.name} as ${m.path}; the other versions are gone.`); load(); },
        (x) => setNote('Keep failed: ' + x.message));
      return;
    }
    setDialog({ what, e });
  };
  const move = async (from, to) => {
    const target = to.startsWith('/') ? to : join(dirRef.current, to);
    await api('POST', '/api/move', { from, to: target });
    load();
  };
  const d = dialog;
  return html`<${Shell} active="/files/" title="Files" actions=${html`<div class="toolbar">
      ${features.search ? html`<${SearchBox} q=${q} setQ=${setQ} />` : ''}
      <button class="primary" onClick=${() => fileInput.current.click()}>Upload files</button>
      <input type="file" multiple ref=${fileInput} class="hidden" aria-label="Files to upload"
        onChange=${(e) => { startUploads([...e.target.files].map((file) => ({ file, rel: file.name }))); e.target.value = ''; }} />
      <button onClick=${() => setDialog({ what: 'mkdir' })}>New folder</button>
      <button onClick=${() => load()} aria-label="Reload listing">Reload</button>
    </div>`}>
    <${Breadcrumbs} dir=${dir} go=${go} />
    ${searching ? html`<${SearchResults} s=${search} features=${features} open=${go} act=${act} />` : ''}
    <div class=${'dropzone' + (drag ? ' drag' : '')} id="dropzone" hidden=${searching}
      onDragOver=${(e) => { e.preventDefault(); setDrag(true); }} onDragLeave=${() => setDrag(false)} onDrop=${onDrop}>
      <p class="drop-hint">${drag ? 'Drop to upload into ' + dir : 'Drag files or folders here to upload them into ' + dir}</p>
      ${note ? html`<p class="note" role="status">${note} <button class="link" onClick=${() => setNote(null)}>dismiss</button></p>` : ''}
      <${ErrorNote} error=${error} />
      <div class="table-wrap"><table class="files" id="files">
        <thead><tr><th scope="col"><span class="sr-only">Preview</span></th>
          <${SortHeader} k="name" label="Name" sort=${sort} setSort=${setSort} />
          <${SortHeader} k="size" label="Size" sort=${sort} setSort=${setSort} cls="num" />
          <${SortHeader} k="modified" label="Modified" sort=${sort} setSort=${setSort} />
          <th scope="col">Type</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${dir !== '/' ? html`<tr><td></td><th scope="row"><a href=${pageURL(parentOf(dir))} onClick=${(ev) => { ev.preventDefault(); go(parentOf(dir)); }}>../</a></th><td colspan="4"></td></tr>` : ''}
          ${entries.map((e) => html`<${Row} key=${e.path} e=${e} hasCopies=${copiesOf.has(e.name) && !e.conflict_of} features=${features} open=${go} act=${act} />`)}
        </tbody>
      </table></div>
      ${listing && entries.length === 0 ? html`<p class="muted empty">This folder is empty.</p>` : ''}
    </div>
    <${Uploads} uploads=${uploads} clear=${() => setUploads([])} />
    ${d && d.what === 'mkdir' ? html`<${PathDialog} title="New folder" label="Name" initial="" submit="Create" onClose=${() => setDialog(null)}
      onSubmit=${async (name) => { await api('POST', filesURL(join(dir, name)), undefined, { 'X-Create-Directory': 'true' }); load(); }} />` : ''}
    ${d && d.what === 'rename' ? html`<${PathDialog} title=${'Rename ' + d.e.name} label="New name" initial=${d.e.name} submit="Rename" onClose=${() => setDialog(null)}
      onSubmit=${(name) => move(d.e.path, join(parentOf(d.e.path), name))} />` : ''}
    ${d && d.what === 'move' ? html`<${PathDialog} title=${'Move ' + d.e.name} label="New path (from the cluster root)" initial=${d.e.path} submit="Move" onClose=${() => setDialog(null)}
      onSubmit=${(to) => move(d.e.path, to)} />` : ''}
    ${d && d.what === 'delete' ? html`<${ConfirmDelete} entry=${d.e} onClose=${() => setDialog(null)} onDone=${load} />` : ''}
    ${d && d.what === 'details' ? html`<${Details} entry=${d.e} onClose=${() => setDialog(null)} onKeep=${(e) => { setDialog(null); act('keep', e); }} />` : ''}
    ${d && d.what === 'preview' ? html`<${Preview} entry=${d.e} features=${features} onClose=${() => setDialog(null)} />` : ''}
  <//>`;
}

mount(App);
