// Thumbnails and in-browser previews for the file browser: images, text,
// audio and video. With the media endpoints (GET /api/ui says which
// exist), thumbnails come from /api/thumbnail/ and audio and video open
// in the player page; without them images are shown from /api/files/ and media
// play directly (the browser uses Range requests).
import { html, useState, useEffect, Modal, ErrorNote, filesURL, encPath, fmtBytes } from '/ui/js/lib.js';

const textTypes = /^(text\/|application\/(json|xml|javascript|x-sh|toml|yaml|x-yaml))/;
const textExt = /\.(txt|md|log|csv|tsv|json|ya?ml|toml|ini|conf|go|py|js|ts|c|h|rs|sh|html|css|xml)$/i;

// previewKind says how an entry can be previewed ("" if not).
export function previewKind(e) {
  if (e.is_directory || e.kind !== 'file') return '';
  const t = e.content_type || '';
  if (t.startsWith('image/')) return 'image';
  if (t.startsWith('audio/')) return 'audio';
  if (t.startsWith('video/')) return 'video';
  if (textTypes.test(t) || textExt.test(e.name)) return 'text';
  return '';
}

// Thumbnails without the media endpoints: images up to this size are
// loaded whole (lazily) and scaled by the browser.
const directThumbMax = 2 << 20;

const kindLabel = { image: 'IMG', audio: 'AUD', video: 'VID', text: 'TXT' };

export function Thumb({ e, features }) {
  const k = previewKind(e);
  if (e.is_directory) return html`<span class="ficon dir" aria-hidden="true">DIR</span>`;
  if ((k === 'image' || k === 'video') && features.thumbnails) {
    return html`<img class="thumb" loading="lazy" alt="" src=${'/api/thumbnail/' + encPath(e.path)} />`;
  }
  if (k === 'image' && e.size <= directThumbMax && e.size > 0) {
    return html`<img class="thumb" loading="lazy" alt="" src=${filesURL(e.path)} />`;
  }
  return html`<span class=${'ficon ' + (k || 'file')} aria-hidden="true">${kindLabel[k] || 'FILE'}</span>`;
}

// textPreviewMax bounds what a text preview reads.
const textPreviewMax = 1 << 20;

function TextPreview({ e }) {
  const [text, setText] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    const headers = e.size > textPreviewMax ? { Range: `bytes=0-${textPreviewMax - 1}` } : {};
    fetch(filesURL(e.path), { headers }).then(async (r) => {
      if (!r.ok && r.status !== 206) throw new Error(r.status + ' ' + r.statusText);
      setText(await r.text());
    }).catch(setErr);
  }, [e.path]);
  return html`<${ErrorNote} error=${err} />
    ${text === null && !err ? html`<p class="muted">Loading…</p>` : ''}
    ${text !== null ? html`<pre class="text-preview" tabindex="0">${text}</pre>` : ''}
    ${e.size > textPreviewMax ? html`<p class="small muted">The first ${fmtBytes(textPreviewMax)} of ${fmtBytes(e.size)}.</p>` : ''}`;
}

// PlayerFrame is the node's player page (/media/player?path=): the file
// itself when the browser plays it, else its HLS stream (a FLAC, an MKV
// from a phone, an AVI).
function PlayerFrame({ e }) {
  const url = '/media/player?path=' + encodeURIComponent('/' + encPath(e.path));
  return html`<iframe class="player" title=${'Player: ' + e.name} src=${url} allowfullscreen></iframe>`;
}

export function Preview({ entry: e, features, onClose }) {
  const k = previewKind(e);
  const src = filesURL(e.path);
  let body;
  switch (k) {
    case 'image':
      body = html`<img class="preview" src=${src} alt=${e.name} />`;
      break;
    case 'audio':
      body = features.player
        ? html`<${PlayerFrame} e=${e} />`
        : html`<audio controls preload="metadata" src=${src}>Your browser cannot play ${e.content_type}.</audio>`;
      break;
    case 'video':
      body = features.player
        ? html`<${PlayerFrame} e=${e} />`
        : html`<video class="preview" controls preload="metadata" src=${src}>Your browser cannot play ${e.content_type}.</video>`;
      break;
    case 'text':
      body = html`<${TextPreview} e=${e} />`;
      break;
    default:
      body = html`<p>No preview for ${e.content_type}.</p>`;
  }
  return html`<${Modal} title=${e.name} onClose=${onClose} wide>
    <div class="preview-body">${body}</div>
    <p class="buttons"><a class="button" href=${src} download=${e.name}>Download</a></p>
  <//>`;
}
