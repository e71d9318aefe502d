// The file browser's search box: as you type, /api/search (the whole
// cluster's index, docs/search.md) answers in place of the listing.
import { html, useState, useEffect, useRef, api, fmtBytes, fmtTime, ErrorNote } from '/ui/js/lib.js';
import { Thumb, previewKind } from '/ui/js/preview.js';

// The search API escapes snippet text and marks matches with <mark>;
// Marked renders that as text and <mark> elements (no innerHTML).
const entities = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&#39;': "'", '&#34;': '"', '&quot;': '"' };
const unescape = (s) => s.replace(/&(lt|gt|amp|quot|#39|#34);/g, (m) => entities[m]);

export function Marked({ text }) {
  const parts = (text || '').split(/<\/?mark>/);
  return parts.map((p, i) => (i % 2 ? html`<mark>${unescape(p)}</mark>` : unescape(p)));
}

const pageSize = 50;

// useSearch runs q against the index 150 ms after the last keystroke
// (and again when tick changes: the namespace changed); an answer to an
// older q is dropped. more() fetches the next page.
export function useSearch(q, tick) {
  const [state, setState] = useState({ q: '', res: null, error: null, busy: false });
  const seq = useRef(0);
  const run = async (query, offset, prev) => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, busy: true }));
    const params = new URLSearchParams({ q: query, limit: String(pageSize), offset: String(offset) });
    try {
      const res = await api('GET', '/api/search?' + params);
      if (mine !== seq.current) return;
      if (prev) res.results = prev.results.concat(res.results);
      setState({ q: query, res, error: null, busy: false });
    } catch (e) {
      if (mine === seq.current) setState({ q: query, res: null, error: e, busy: false });
    }
  };
  useEffect(() => {
    const query = q.trim();
    if (!query) {
      seq.current++;
      setState({ q: '', res: null, error: null, busy: false });
      return undefined;
    }
    const t = setTimeout(() => run(query, 0, null), 150);
    return () => clearTimeout(t);
  }, [q, tick]);
  const more = () => state.res && run(state.q, state.res.results.length, state.res);
  return { ...state, more };
}

export function SearchBox({ q, setQ }) {
  return html`<form class="search" role="search" onSubmit=${(e) => e.preventDefault()}>
    <label for="search-input" class="sr-only">Search the cluster</label>
    <input id="search-input" type="search" value=${q} placeholder="Search names, metadata, text…" autocomplete="off"
      title="Words must all match; also &quot;phrase&quot;, foto*, ext:jpg, type:image, camera:, artist:, size:>10MB, modified:>2026-01-01, under:/photos"
      onInput=${(e) => setQ(e.target.value)} onKeyDown=${(e) => { if (e.key === 'Escape') setQ(''); }} />
  </form>`;
}

const parentOf = (p) => p.replace(/\/[^/]*$/, '') || '/';

// SearchResults lists a search's hits: open a folder, preview a file or
// go to the folder holding it.
export function SearchResults({ s, features, open, act }) {
  if (s.error) return html`<${ErrorNote} error=${s.error} />`;
  if (!s.res) return html`<p class="muted" role="status">${s.busy ? 'Searching…' : ''}</p>`;
  const r = s.res;
  return html`<section aria-label="Search results">
    <p class="small" role="status" id="search-summary">${r.total} ${r.total === 1 ? 'result' : 'results'} for “${r.query}” in ${r.took_ms.toFixed(1)} ms${r.pending_extractions ? ` (${r.pending_extractions} files still being read)` : ''}</p>
    <div class="table-wrap"><table class="files" id="search-results">
      <thead><tr><th scope="col"><span class="sr-only">Preview</span></th><th scope="col">Name</th><th scope="col" class="num">Size</th>
        <th scope="col">Modified</th><th scope="col">Type</th></tr></thead>
      <tbody>${r.results.map((h) => {
        // The name with its matches marked; the snippet only when it says more.
        const marked = (h.highlights && h.highlights.name && h.highlights.name[0]) || '';
        const label = marked ? html`<${Marked} text=${marked} />` : h.name;
        const snippet = h.snippet_html && h.snippet !== h.name ? h.snippet_html : '';
        return html`<tr key=${h.path} data-path=${h.path}>
        <td class="thumbcell"><${Thumb} e=${h} features=${features} /></td>
        <th scope="row" class="name">
          ${h.is_directory
            ? html`<button class="link" onClick=${() => open(h.path)}>${label}/</button>`
            : previewKind(h) ? html`<button class="link" onClick=${() => act('preview', h)}>${label}</button>` : html`<span>${label}</span>`}
          <div class="small muted"><button class="link" onClick=${() => open(parentOf(h.path))} aria-label=${'Open the folder of ' + h.name}>${parentOf(h.path)}</button></div>
          ${snippet ? html`<div class="small snippet"><${Marked} text=${snippet} /></div>` : ''}
        </th>
        <td class="num">${h.is_directory ? '' : fmtBytes(h.size)}</td>
        <td class="small">${fmtTime(h.modified_at)}</td>
        <td class="small">${h.kind === 'file' ? h.content_type : h.kind}</td>
      </tr>`;
      })}</tbody>
    </table></div>
    ${r.results.length < r.total ? html`<button onClick=${s.more} disabled=${s.busy}>More results</button>` : ''}
    ${r.total === 0 ? html`<p class="muted empty">Nothing matches. Words must all match; try fewer words or a prefix (foto*).</p>` : ''}
  </section>`;
}
