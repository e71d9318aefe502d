// /profiling: CPU profiling on demand, flame graphs, heap, goroutine,
// mutex and block profiles (raw pprof downloads), contention sampling.
import { html, mount, Shell, api, get, useState, useEffect, fmtBytes, fmtTime, ErrorNote, Badge } from '/ui/js/lib.js';

const profiles = [
  ['heap', 'Heap (live objects)'], ['allocs', 'Allocations (since start)'], ['goroutine', 'Goroutines'],
  ['mutex', 'Mutex contention'], ['block', 'Blocking'], ['threadcreate', 'Thread creation'],
];

function App() {
  const [st, setSt] = useState(null);
  const [err, setErr] = useState(null);
  const [secs, setSecs] = useState('10');
  const load = () => get('/api/profiling').then((s) => { setSt(s); setErr(null); }, setErr);
  useEffect(() => { load(); const t = setInterval(load, 2000); return () => clearInterval(t); }, []);
  const call = (path, body) => api('POST', path, body).then(setSt, setErr);
  return html`<${Shell} active="/profiling" title="Profiling">
    <${ErrorNote} error=${err} />
    <section aria-labelledby="cpu-h"><h2 id="cpu-h">CPU profile</h2>
      ${st ? html`<p id="cpu-state">${st.running
        ? html`<${Badge} kind="warn">recording<//> since ${fmtTime(st.started_at)} (${st.reason})`
        : html`<${Badge}>not recording<//>`}</p>
      <div class="toolbar">
        <button class="primary" disabled=${st.running} onClick=${() => call('/api/profiling/cpu/start')}>Start CPU profile</button>
        <button disabled=${!st.running} onClick=${() => call('/api/profiling/cpu/stop')}>Stop</button>
        ${st.last ? html`<a class="button" href="/flamegraph?source=last" target="_blank" rel="noopener">Flame graph of the last profile</a>
          <a class="button" href="/api/profiling/cpu.pprof" download="cpu.pprof">Download cpu.pprof (${fmtBytes(st.last.bytes)})</a>
          <span class="small muted">recorded ${fmtTime(st.last.started_at)} – ${fmtTime(st.last.stopped_at)}</span>` : ''}
      </div>
      <p class="small">Or record a fresh one and draw it at once:
        <label for="secs" class="sr-only">seconds</label><input id="secs" type="number" min="1" max="60" value=${secs} onInput=${(e) => setSecs(e.target.value)} /> s
        <a class="button" href=${'/flamegraph?seconds=' + secs} target="_blank" rel="noopener">Record and show the CPU flame graph</a>
        (a CPU profile must not be recording). Start the node with <code>--profiling</code> to record from the start.</p>` : ''}
    </section>
    <section aria-labelledby="mem-h"><h2 id="mem-h">Memory and goroutines</h2>
      <p><a class="button" href="/memorygraph" target="_blank" rel="noopener">Heap flame graph</a>
        <a class="button" href="/memorygraph?si=alloc_space" target="_blank" rel="noopener">Allocation flame graph</a>
        <a class="button" href="/debug/pprof/goroutine?debug=2" target="_blank" rel="noopener">Goroutine dump (text)</a>
        ${st ? html`<span class="small muted">${st.goroutines} goroutines now</span>` : ''}</p>
    </section>
    <section aria-labelledby="raw-h"><h2 id="raw-h">Raw profiles (pprof format)</h2>
      <p class="small">Open with <code>go tool pprof -http=: FILE</code>.</p>
      <ul class="downloads">${profiles.map(([n, label]) => html`<li><a href=${'/debug/pprof/' + n} download=${n + '.pprof'}>${label}</a> <span class="small mono">/debug/pprof/${n}</span></li>`)}
        <li><a href="/debug/pprof/trace?seconds=5" download="trace.out">Execution trace (5 s)</a></li></ul>
      ${st ? html`<p><label><input type="checkbox" checked=${st.contention} onChange=${(e) => call('/api/profiling/contention', { enabled: e.target.checked })} />
        Sample mutex and blocking contention</label> <span class="small muted">(off by default: it costs a little on every contended lock; the mutex and block profiles are empty without it)</span></p>` : ''}
    </section>
  <//>`;
}

mount(App);
