// Roundhouse web UI: a dependency-free single page app over API v2, v1.1 and /api/ui live streams.
const $ = (sel) => document.querySelector(sel);
const esc = (s) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
const badge = (s) =>
  `<span class="status ${esc(s)}" data-status="${esc(s)}">${esc(String(s).replace(/_/g, ' '))}</span>`;
const when = (t) => (t ? new Date(t).toLocaleString() : '');

const params = new URLSearchParams(location.search);
if (params.get('token')) {
  localStorage.setItem('roundhouse-token', params.get('token'));
  history.replaceState(null, '', location.pathname);
}
const loginError = params.get('login_error');
if (loginError) history.replaceState(null, '', location.pathname);
const token = () => localStorage.getItem('roundhouse-token');
// With a session cookie (GitHub login, or a token login) changes carry the session's CSRF token.
let csrf = null;

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: {
      ...(token() ? { 'circle-token': token() } : {}),
      ...(csrf && method !== 'GET' ? { 'x-csrf-token': csrf } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (res.status === 401) {
    showLogin(loginError ?? (json.message && !/log in first/.test(json.message) ? json.message : ''));
    throw new Error('unauthorized');
  }
  if (!res.ok) throw new Error(json.message ?? `HTTP ${res.status}`);
  return json;
}

async function showLogin(message = '') {
  $('#who').textContent = '';
  $('#main').innerHTML = `<div class="card"><h2>Log in</h2><p id="github-login"></p>
    <p>Or paste an API token (the server prints the admin token at start).</p>
    <form id="login"><input id="tok" type="password" size="50" placeholder="API token" autocomplete="off"> <button class="primary">Log in</button></form>
    <p class="errors" id="login-error">${esc(message)}</p></div>`;
  $('#login').onsubmit = async (e) => {
    e.preventDefault();
    const res = await fetch('/auth/token-login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: $('#tok').value.trim() }),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) {
      $('#login-error').textContent = json.message ?? `HTTP ${res.status}`;
      return;
    }
    localStorage.removeItem('roundhouse-token');
    csrf = json.csrf;
    route();
  };
  const providers = await fetch('/auth/providers')
    .then((r) => r.json())
    .catch(() => ({}));
  if (providers.github && $('#github-login'))
    $('#github-login').innerHTML =
      `<a class="button primary" id="github-button" href="/auth/github">Log in with GitHub</a>`;
}

async function logout() {
  await fetch('/auth/logout', {
    method: 'POST',
    headers: { ...(token() ? { 'circle-token': token() } : {}), ...(csrf ? { 'x-csrf-token': csrf } : {}) },
  }).catch(() => undefined);
  localStorage.removeItem('roundhouse-token');
  csrf = null;
  events?.close();
  events = undefined;
  history.pushState(null, '', '/');
  showLogin('Logged out.');
}

function go(path) {
  history.pushState(null, '', path);
  route();
}
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-nav]');
  if (a && !e.metaKey && !e.ctrlKey) {
    e.preventDefault();
    go(a.getAttribute('href'));
  }
});
window.addEventListener('popstate', () => route());

let cleanup = () => {};
let refresh = () => {};
let events;
const tokenQuery = () => (token() ? `?circle-token=${encodeURIComponent(token())}` : '');
function listen() {
  if (events) return;
  events = new EventSource(`/api/ui/events${tokenQuery()}`);
  let t;
  events.addEventListener('changed', () => {
    clearTimeout(t);
    t = setTimeout(() => refresh(), 150);
  });
}

function crumbs(parts) {
  $('#crumbs').innerHTML = parts.map(([label, href]) => `<a data-nav href="${esc(href)}">${esc(label)}</a>`).join('› ');
}

// Each navigation starts a new generation; a page whose generation is over must not touch the screen
// (its fetches may finish after the user has moved on).
let generation = 0;
const current = (gen) => gen === generation;

/** Runs `fn` one at a time: a call while one runs makes it run once more afterwards, so the last render is the newest. */
function serialized(fn) {
  let running;
  let again = false;
  const run = () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await fn();
      } while (again);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  return run;
}

async function route() {
  const gen = ++generation;
  cleanup();
  cleanup = () => {};
  refresh = () => {};
  try {
    const info = await api('GET', '/api/ui/info');
    if (!current(gen)) return;
    csrf = info.csrf;
    $('#who').innerHTML =
      `${info.user.admin ? '<a data-nav href="/admin/users" id="admin-link">Admin</a> · ' : ''}<a data-nav href="/account">${esc(info.user.login)}</a>${info.user.admin ? ' (admin)' : ''} · <a href="#" id="logout">Log out</a>`;
    $('#logout').onclick = (e) => {
      e.preventDefault();
      logout();
    };
    $('#notices').innerHTML = info.notices.map((n) => `<div>${esc(n)}</div>`).join('');
  } catch (e) {
    if (current(gen) && e.message !== 'unauthorized') showLogin(e.message);
    return;
  }
  listen();
  // /projects/:vcs/:org/:repo, /pipelines/:vcs/:org/:repo/:n[/workflows/:wid[/jobs/:jobnum]]
  const p = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (p[0] === 'pipelines' && p.length >= 9 && p[5] === 'workflows' && p[7] === 'jobs') {
    // The job page follows its own live stream; "changed" events must not rebuild it.
    await jobPage(p.slice(1, 4).join('/'), Number(p[4]), p[8], gen).catch((e) => current(gen) && showError(e));
    return;
  }
  if (p[0] === 'admin' || p[0] === 'account') {
    const { adminPage } = await import('/ui/admin.js');
    await adminPage(p, { api, $, esc, crumbs, current: () => current(gen) }).catch((e) => current(gen) && showError(e));
    return;
  }
  const page =
    p[0] === 'projects' && p.length >= 4
      ? () => projectPage(p.slice(1, 4).join('/'), gen)
      : p[0] === 'pipelines' && p.length >= 5
        ? () => pipelinePage(p.slice(1, 4).join('/'), Number(p[4]), p[5] === 'workflows' ? p[6] : undefined, gen)
        : () => projectsPage(gen);
  const run = serialized(() => page().catch((e) => current(gen) && showError(e)));
  refresh = run;
  await run();
}
function showError(e) {
  if (e.message !== 'unauthorized') $('#main').innerHTML = `<div class="card errors">${esc(e.message)}</div>`;
}

async function projectsPage(gen) {
  const { items } = await api('GET', '/api/ui/projects');
  if (!current(gen)) return;
  crumbs([['Projects', '/']]);
  $('#main').innerHTML =
    `<h2>Projects</h2>` +
    (items.length
      ? `<table><tr><th>Project</th><th>Repository</th><th>Default branch</th></tr>${items.map((p) => `<tr><td><a data-nav href="/projects/${esc(p.slug)}">${esc(p.slug)}</a></td><td class="muted">${esc(p.repo_url)}</td><td>${esc(p.default_branch)}</td></tr>`).join('')}</table>`
      : `<p>No projects yet. Add one with <code>roundhouse project add gh/org/repo --repo &lt;git url or path&gt;</code>.</p>`);
}

async function projectPage(slug, gen) {
  const { items } = await api('GET', `/api/v2/project/${slug}/pipeline`);
  const rows = [];
  for (const p of items) {
    const wfs = p.state === 'errored' ? [] : (await api('GET', `/api/v2/pipeline/${p.id}/workflow`)).items;
    rows.push(`<tr data-pipeline="${p.number}"><td><a data-nav href="/pipelines/${esc(slug)}/${p.number}">#${p.number}</a></td>
      <td>${p.state === 'errored' ? badge('errored') : wfs.map((w) => `${badge(w.status)} ${esc(w.name)}`).join('<br>')}</td>
      <td>${esc(p.vcs?.branch ?? p.vcs?.tag ?? '')}</td><td class="muted">${esc((p.vcs?.revision ?? '').slice(0, 7))} ${esc(p.vcs?.commit?.subject ?? '')}</td><td class="muted">${when(p.created_at)}</td></tr>`);
  }
  if (!current(gen)) return;
  const table = `<tr><th>#</th><th>Workflows</th><th>Branch / tag</th><th>Commit</th><th>Created</th></tr>${rows.join('')}`;
  // Live refreshes replace only the list: the trigger form keeps what the user is typing.
  const list = $('#pipeline-list');
  if (list?.dataset.slug === slug) {
    list.innerHTML = table;
    return;
  }
  crumbs([
    ['Projects', '/'],
    [slug, `/projects/${slug}`],
  ]);
  $('#main').innerHTML =
    `<div class="card"><form id="trigger"><input id="branch" placeholder="branch (default branch if empty)"> <button class="primary" id="trigger-btn">Trigger pipeline</button></form><p class="errors" id="trigger-error"></p></div>
    <h2>Pipelines</h2><table id="pipeline-list" data-slug="${esc(slug)}">${table}</table>`;
  $('#trigger').onsubmit = async (e) => {
    e.preventDefault();
    const branch = $('#branch').value.trim();
    try {
      const p = await api('POST', `/api/v2/project/${slug}/pipeline`, branch ? { branch } : {});
      go(`/pipelines/${slug}/${p.number}`);
    } catch (err) {
      $('#trigger-error').textContent = err.message;
    }
  };
}

function layers(jobs) {
  const depth = new Map();
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const d = (j, seen = new Set()) => {
    if (depth.has(j.id)) return depth.get(j.id);
    if (seen.has(j.id)) return 0;
    seen.add(j.id);
    const v = j.dependencies.length
      ? 1 + Math.max(...j.dependencies.map((x) => (byId.has(x) ? d(byId.get(x), seen) : 0)))
      : 0;
    depth.set(j.id, v);
    return v;
  };
  const cols = [];
  for (const j of jobs) (cols[d(j)] ??= []).push(j);
  return cols;
}

async function pipelinePage(slug, number, focus, gen) {
  const p = await api('GET', `/api/v2/project/${slug}/pipeline/${number}`);
  let html = `<h2>Pipeline #${number} ${badge(p.state)}</h2><p class="muted">${esc(p.vcs?.branch ?? p.vcs?.tag ?? '')} · ${esc((p.vcs?.revision ?? '').slice(0, 7))} ${esc(p.vcs?.commit?.subject ?? '')} · triggered by ${esc(p.trigger.actor.login)} ${when(p.created_at)}</p>`;
  if (p.errors.length)
    html += `<div class="card"><h3>Configuration errors</h3><div class="errors" id="pipeline-errors">${p.errors.map((e) => esc(e.message)).join('\n')}</div></div>`;
  const { items: wfs } = await api('GET', `/api/v2/pipeline/${p.id}/workflow`);
  for (const w of wfs) {
    if (focus && w.id !== focus) continue;
    const { items: jobs } = await api('GET', `/api/v2/workflow/${w.id}/job`);
    const active = ['running', 'failing', 'on_hold'].includes(w.status);
    html += `<div class="card workflow" data-workflow="${esc(w.id)}"><h3>${esc(w.name)} ${badge(w.status)}</h3>
      <p>${active ? `<button data-act="cancel" data-id="${w.id}">Cancel workflow</button>` : `<button data-act="rerun" data-id="${w.id}">Rerun workflow</button>${w.status === 'success' ? '' : ` <button data-act="rerun-failed" data-id="${w.id}">Rerun from failed</button>`}`}</p>
      <div class="graph">${layers(jobs)
        .map(
          (col) =>
            `<div class="column">${col
              .map((j) => {
                const inner = `<strong>${esc(j.name)}</strong><br>${badge(j.status)} ${j.job_number ? `<span class="muted">#${j.job_number}</span>` : ''}`;
                return j.job_number
                  ? `<a data-nav class="job ${esc(j.status)}" href="/pipelines/${esc(slug)}/${number}/workflows/${w.id}/jobs/${j.job_number}">${inner}</a>`
                  : `<div class="job ${esc(j.status)}">${inner}${
                      j.type === 'approval' && j.status === 'on_hold'
                        ? `<br><button data-act="approve" data-id="${w.id}" data-request="${esc(j.approval_request_id)}">Approve</button>`
                        : ''
                    }</div>`;
              })
              .join('')}</div>`,
        )
        .join('')}</div></div>`;
  }
  if (!wfs.length && !p.errors.length)
    html += `<p class="muted">No workflows ran for this pipeline (filters excluded every job).</p>`;
  if (!current(gen)) return;
  crumbs([
    ['Projects', '/'],
    [slug, `/projects/${slug}`],
    [`Pipeline #${number}`, `/pipelines/${slug}/${number}`],
  ]);
  $('#main').innerHTML = html;
  for (const b of document.querySelectorAll('button[data-act]')) {
    b.onclick = async () => {
      b.disabled = true;
      try {
        if (b.dataset.act === 'cancel') await api('POST', `/api/v2/workflow/${b.dataset.id}/cancel`);
        else if (b.dataset.act === 'approve')
          await api('POST', `/api/v2/workflow/${b.dataset.id}/approve/${b.dataset.request}`);
        else
          await api(
            'POST',
            `/api/v2/workflow/${b.dataset.id}/rerun`,
            b.dataset.act === 'rerun-failed' ? { from_failed: true } : {},
          );
        await refresh();
      } catch (e) {
        alert(e.message);
        b.disabled = false;
      }
    };
  }
}

async function jobPage(slug, number, jobNumber, gen) {
  const job = await api('GET', `/api/ui/project/${slug}/job/${jobNumber}`);
  if (!current(gen)) return;
  // A parallel job shows one node's steps at a time (?node=K), like CircleCI's node tabs.
  const total = Math.max(1, Number(job.parallelism) || 1);
  const node = Math.min(total - 1, Math.max(0, Number(new URLSearchParams(location.search).get('node')) || 0));
  const nodeTabs =
    total > 1
      ? `<p class="nodes">${Array.from({ length: total }, (_, k) =>
          k === node
            ? `<strong data-node="${k}">Node ${k}</strong>`
            : `<a data-nav data-node="${k}" href="${location.pathname}?node=${k}">Node ${k}</a>`,
        ).join(' ')}</p>`
      : '';
  const mine = (d) => (d.node ?? 0) === node;
  crumbs([
    ['Projects', '/'],
    [slug, `/projects/${slug}`],
    [`Pipeline #${number}`, `/pipelines/${slug}/${number}`],
    [job.name, location.pathname],
  ]);
  $('#main').innerHTML =
    `<h2>${esc(job.name)} <span class="muted">#${job.number}</span> <span id="job-status">${badge(job.status)}</span></h2>
    <p><button id="cancel-job">Cancel job</button> <a data-nav href="/pipelines/${esc(slug)}/${number}/workflows/${job.workflow_id}">Workflow</a></p>
    ${nodeTabs}
    <div id="messages"></div><div id="steps"></div><section id="results"></section>`;
  $('#cancel-job').onclick = async () => {
    try {
      await api('POST', `/api/v2/project/${slug}/job/${jobNumber}/cancel`);
    } catch (e) {
      alert(e.message);
    }
  };
  const steps = new Map();
  const seen = new Set();
  const stepEl = (idx, name) => {
    let s = steps.get(idx);
    if (!s) {
      const el = document.createElement('details');
      el.className = 'step';
      el.open = true;
      el.dataset.step = idx;
      el.innerHTML = `<summary><span class="st"></span><span class="name"></span></summary><pre class="output"></pre>`;
      const after = [...steps.keys()].filter((k) => k > idx).sort((a, b) => a - b)[0];
      $('#steps').insertBefore(el, after === undefined ? null : steps.get(after).el);
      s = { el, pre: el.querySelector('pre') };
      steps.set(idx, s);
    }
    if (name) s.el.querySelector('.name').textContent = name;
    return s;
  };
  const setStatus = (idx, status) => {
    stepEl(idx).el.querySelector('.st').innerHTML = badge(status);
  };
  const addOutput = (o) => {
    if (!mine(o)) return;
    const key = `${o.stepIdx}:${o.seq}`;
    if (seen.has(key)) return;
    seen.add(key);
    const span = document.createElement('span');
    if (o.stream === 'err') span.className = 'err';
    span.textContent = o.data;
    stepEl(o.stepIdx).pre.appendChild(span);
  };
  // Artifacts and test results, once the job has ended (as CircleCI's Artifacts and Tests tabs).
  let resultsShown = false;
  const showResults = async () => {
    resultsShown = true;
    const base = `/api/v2/project/${slug}/${jobNumber}`;
    const [arts, tests] = await Promise.all([
      api('GET', `${base}/artifacts`).catch(() => ({ items: [] })),
      api('GET', `${base}/tests`).catch(() => ({ items: [] })),
    ]);
    if (!current(gen)) return;
    const mineArts = arts.items.filter((a) => total === 1 || a.node_index === node);
    const count = (r) => tests.items.filter((c) => c.result === r).length;
    const failures = tests.items.filter((c) => c.result === 'failure' || c.result === 'error');
    $('#results').innerHTML = `
      <h3>Artifacts</h3>
      ${
        mineArts.length
          ? `<ul class="artifacts">${mineArts
              .map(
                (a) =>
                  `<li><a href="${esc(a.url)}${tokenQuery()}" target="_blank" rel="noopener">${esc(a.path)}</a></li>`,
              )
              .join('')}</ul>`
          : '<p class="muted">No artifacts.</p>'
      }
      <h3>Tests</h3>
      ${
        tests.items.length
          ? `<p class="tests-summary">${tests.items.length} tests: ${count('success')} passed, ${failures.length} failed, ${count('skipped')} skipped</p>
             ${failures
               .map(
                 (c) =>
                   `<details class="test-failure"><summary>${esc(c.classname)} › ${esc(c.name)}</summary><pre>${esc(c.message ?? '')}</pre></details>`,
               )
               .join('')}`
          : '<p class="muted">No test results.</p>'
      }`;
  };
  const showStatus = (st, messages) => {
    if (!resultsShown && !['queued', 'running', 'blocked', 'on_hold'].includes(st)) void showResults();
    $('#job-status').innerHTML = badge(st);
    $('#cancel-job').disabled = !['queued', 'running', 'blocked'].includes(st);
    $('#messages').innerHTML = (messages ?? []).map((m) => `<p class="muted">${esc(m.message)}</p>`).join('');
  };
  const es = new EventSource(`/api/ui/jobs/${job.id}/stream${tokenQuery()}`);
  cleanup = () => es.close();
  es.addEventListener('snapshot', (e) => {
    const d = JSON.parse(e.data);
    for (const s of d.steps.filter(mine)) {
      stepEl(s.idx, s.name);
      setStatus(s.idx, s.status);
    }
    for (const o of d.output) addOutput(o);
    showStatus(d.status, d.messages);
  });
  es.addEventListener('step', (e) => {
    const d = JSON.parse(e.data);
    if (!mine(d)) return;
    stepEl(d.idx, d.name || undefined);
    setStatus(d.idx, d.status);
  });
  es.addEventListener('output', (e) => addOutput(JSON.parse(e.data)));
  es.addEventListener('status', (e) => {
    const d = JSON.parse(e.data);
    // A requeued job starts over: drop the interrupted attempt's steps.
    if (d.status === 'queued') {
      steps.clear();
      seen.clear();
      $('#steps').innerHTML = '';
    }
    showStatus(d.status, d.messages);
  });
}

route();
