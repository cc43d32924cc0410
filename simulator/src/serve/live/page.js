'use strict';
// The live fleet view: rows arrive from /events (a snapshot, then changed rows); drawing happens
// at most once per animation frame, and only the rows in view exist in the document.
const ROW = 28;
const OVERSCAN = 6;
const $ = (id) => document.getElementById(id);
const CELLS = ['name', 'state', 'power', 'boot', 'booting', 'agent', 'faults'];
const FIELDS = [['state', 'state'], ['power', 'power'], ['boot', 'boot'], ['booting', 'booting now'],
  ['agent', 'agent'], ['disks', 'disks'], ['guest', 'booted OS'], ['bios', 'pending BIOS'], ['bmc', 'BMC'],
  ['faults', 'faults']];
const FAULTS = {
  unreachable: { method: 'POST', path: 'faults', body: { unreachable_now: true } },
  http5xx: { method: 'POST', path: 'faults', body: { http_5xx_rate: 0.5 } },
  latency: { method: 'POST', path: 'faults', body: { latency: { min: '0.5s', max: '1s' } } },
  stick: { method: 'POST', path: 'faults', body: { power_stick_rate: 1.0 } },
  heartbeat: { method: 'POST', path: 'agent-faults', body: { heartbeat_loss: true } },
};

const state = { rows: [], groups: [], order: [], filter: '', group: null, selected: null, now: 0 };
let listDirty = true;
let frame = 0;
const pool = [];

function text(r) {
  return [r.name, r.state, r.power, r.boot, r.booting, r.agent, r.disks, r.guest, r.bios, r.bmc, ...r.faults]
    .join(' ').toLowerCase();
}
function keep(r) { r.text = text(r); return r; }
function schedule() { if (!frame) { frame = requestAnimationFrame(draw); } }
function shows(r) {
  return (state.group === null || r.state === state.group)
    && (state.filter === '' || r.text.includes(state.filter));
}

function connect() {
  const events = new EventSource('/events');
  events.addEventListener('open', () => { $('conn').textContent = 'live'; $('conn').className = 'conn live'; });
  events.addEventListener('error', () => {
    // The browser retries a dropped stream by itself, but not a refused one (503: too many views).
    const closed = events.readyState === EventSource.CLOSED;
    $('conn').textContent = closed ? 'disconnected: reload to retry' : 'reconnecting…';
    $('conn').className = 'conn wait';
  });
  events.addEventListener('snapshot', (e) => {
    const data = JSON.parse(e.data);
    state.groups = data.groups;
    state.rows = data.rows.map(keep);
    state.now = data.now;
    listDirty = true;
    schedule();
  });
  events.addEventListener('rows', (e) => {
    const data = JSON.parse(e.data);
    for (const r of data.rows) { state.rows[r.i] = keep(r); }
    state.now = data.now;
    listDirty = true;
    schedule();
  });
}

function drawGroups() {
  const counts = new Map(state.groups.map((g) => [g, 0]));
  for (const r of state.rows) { counts.set(r.state, (counts.get(r.state) ?? 0) + 1); }
  const nav = $('groups');
  const all = [[null, 'all', state.rows.length], ...[...counts].map(([g, n]) => [g, g, n])];
  while (nav.children.length < all.length) {
    const b = document.createElement('button');
    b.type = 'button';
    b.append(document.createElement('span'), document.createElement('b'));
    b.addEventListener('click', () => {
      const g = b.dataset.group === '' ? null : b.dataset.group;
      state.group = state.group === g ? null : g;
      listDirty = true;
      schedule();
    });
    nav.append(b);
  }
  all.forEach(([g, label, n], k) => {
    const b = nav.children[k];
    b.dataset.group = g ?? '';
    b.firstChild.textContent = label;
    b.lastChild.textContent = String(n);
    b.setAttribute('aria-pressed', String(state.group === g));
    b.classList.toggle('empty', n === 0);
  });
}

function since(seconds) {
  if (seconds < 60) { return `${seconds.toFixed(1)} s`; }
  const pad = (n) => String(Math.floor(n)).padStart(2, '0');
  if (seconds < 3600) { return `${Math.floor(seconds / 60)} min ${pad(seconds % 60)} s`; }
  return `${Math.floor(seconds / 3600)} h ${pad((seconds % 3600) / 60)} min`;
}

function cell(r, name) {
  if (name === 'faults') { return r.faults.join('; '); }
  return r[name];
}

function rowElement() {
  const el = document.createElement('div');
  el.className = 'row';
  el.setAttribute('role', 'row');
  for (const name of CELLS) {
    const c = document.createElement('span');
    c.dataset.cell = name;
    if (name === 'state') { c.append(document.createElement('span')); }
    el.append(c);
  }
  el.addEventListener('click', () => {
    state.selected = Number(el.dataset.index);
    $('result').textContent = '';
    $('result').classList.remove('bad');
    schedule();
  });
  return el;
}

function drawRows() {
  const scroller = $('scroller');
  const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
  const count = Math.ceil(scroller.clientHeight / ROW) + 2 * OVERSCAN;
  const slice = state.order.slice(first, first + count);
  const box = $('rows');
  box.style.transform = `translateY(${first * ROW}px)`;
  while (pool.length < slice.length) { pool.push(rowElement()); }
  while (box.children.length > slice.length) { box.lastChild.remove(); }
  slice.forEach((i, k) => {
    const r = state.rows[i];
    const el = pool[k];
    if (el.parentNode !== box) { box.append(el); }
    el.dataset.index = String(i);
    el.dataset.name = r.name;
    el.dataset.state = r.state;
    el.classList.toggle('selected', state.selected === i);
    CELLS.forEach((name, c) => {
      const span = el.children[c];
      const value = cell(r, name);
      if (name === 'state') {
        span.firstChild.textContent = value;
        span.firstChild.className = `st st-${value}`;
      } else {
        span.textContent = value;
      }
      span.title = value;
      if (name === 'faults') { span.classList.toggle('fault', r.faults.length > 0); }
    });
  });
}

function drawDetail() {
  const r = state.selected === null ? undefined : state.rows[state.selected];
  $('detail').hidden = r === undefined;
  if (r === undefined) { return; }
  $('d-name').textContent = r.name;
  const dl = $('d-fields');
  if (dl.children.length === 0) {
    for (const [key, label] of FIELDS) {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.dataset.field = key;
      dl.append(dt, dd);
    }
  }
  for (const dd of dl.querySelectorAll('dd')) {
    const key = dd.dataset.field;
    const value = key === 'faults' ? (r.faults.join('; ') || 'none') : (r[key] || '—');
    dd.textContent = value;
    dd.classList.toggle('fault', key === 'faults' && r.faults.length > 0);
  }
}

function draw() {
  frame = 0;
  if (listDirty) {
    listDirty = false;
    state.order = [];
    state.rows.forEach((r, i) => { if (r && shows(r)) { state.order.push(i); } });
    $('spacer').style.height = `${state.order.length * ROW}px`;
    $('shown').textContent = `${state.order.length} of ${state.rows.length} machines`;
    drawGroups();
  }
  $('clock').textContent = `simulated ${since(state.now)}`;
  drawRows();
  drawDetail();
}

async function call(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const answer = await response.text();
  return { ok: response.ok, line: `${method} ${url} → ${response.status}${answer ? `\n${answer}` : ''}` };
}

async function act(action) {
  const r = state.rows[state.selected];
  if (!r) { return; }
  const base = `/hosts/${encodeURIComponent(r.name)}`;
  const out = $('result');
  out.classList.remove('bad');
  out.textContent = `${action} on ${r.name}…`;
  try {
    const done = [];
    if (action === 'clear') {
      done.push(await call('DELETE', `${base}/faults`));
      done.push(await call('DELETE', `${base}/agent-faults`));
    } else {
      const f = FAULTS[action];
      done.push(await call(f.method, `${base}/${f.path}`, f.body));
    }
    out.textContent = done.map((d) => d.line).join('\n');
    out.classList.toggle('bad', done.some((d) => !d.ok));
  } catch (e) {
    out.textContent = `${action} on ${r.name} failed: ${e.message}`;
    out.classList.add('bad');
  }
}

$('filter').addEventListener('input', (e) => {
  state.filter = e.target.value.trim().toLowerCase();
  listDirty = true;
  $('scroller').scrollTop = 0;
  schedule();
});
$('scroller').addEventListener('scroll', schedule, { passive: true });
window.addEventListener('resize', schedule);
for (const b of document.querySelectorAll('.actions button')) {
  b.addEventListener('click', () => act(b.dataset.action));
}
connect();
