// Admin pages (users, system settings, audit log) and the account page, as the operations guide describes them.

const when = (t) => (t ? new Date(t).toLocaleString() : 'never');

export async function adminPage(p, ui) {
  const { $, crumbs } = ui;
  if (p[0] === 'account') return accountPage(ui);
  const tab = p[1] ?? 'users';
  crumbs([
    ['Admin', '/admin/users'],
    [{ users: 'Users', settings: 'System settings', 'audit-log': 'Audit log' }[tab] ?? tab, `/admin/${tab}`],
  ]);
  const nav = `<p class="tabs"><a data-nav href="/admin/users">Users</a> · <a data-nav href="/admin/settings">System settings</a> · <a data-nav href="/admin/audit-log">Audit log</a></p>`;
  if (tab === 'users') return usersPage(ui, nav);
  if (tab === 'settings') return settingsPage(ui, nav);
  if (tab === 'audit-log') return auditPage(ui, nav);
  $('#main').innerHTML = `${nav}<div class="card errors">No admin page ${ui.esc(tab)}.</div>`;
}

async function usersPage(ui, nav) {
  const { api, $, esc } = ui;
  const { items } = await api('GET', '/api/admin/users');
  if (!ui.current()) return;
  const section = (state, title, help) => {
    const rows = items.filter((u) => u.state === state);
    return `<div class="card users" id="users-${state}" data-state="${state}"><h3>${title} (${rows.length})</h3><p class="muted">${help}</p>
      <table><tr><th>Login</th><th>Name</th><th>Organizations</th><th>Last login</th><th></th></tr>${rows
        .map(
          (
            u,
          ) => `<tr data-login="${esc(u.login)}"><td>${esc(u.login)}${u.admin ? ' <span class="muted">(admin)</span>' : ''}</td><td>${esc(u.name)}</td>
          <td>${esc(u.organizations.map((o) => o.org).join(', '))}</td><td class="muted">${esc(when(u.last_login_at))}</td>
          <td>${state === 'suspended' ? `<button data-act="activate" data-login="${esc(u.login)}">Activate</button>` : `<button data-act="suspend" data-login="${esc(u.login)}">Suspend</button>`}</td></tr>`,
        )
        .join('')}</table></div>`;
  };
  $('#main').innerHTML =
    `${nav}<h2>Users</h2>
    <div class="card"><form id="approve"><input id="approve-login" placeholder="GitHub login"> <button class="primary">Approve user</button></form>
    <p class="muted">An approved user is inactive until their first login and does not count against seats.</p><p class="errors" id="users-error"></p></div>` +
    section('active', 'Active', 'Users who have logged in.') +
    section('inactive', 'Inactive', 'Approved by an administrator but never logged in; not counted against seats.') +
    section(
      'suspended',
      'Suspended',
      'Cannot log in; their API tokens do not work. New users land here when "Suspend New Users" is on.',
    );
  const reload = () => usersPage(ui, nav);
  for (const b of document.querySelectorAll('button[data-act]')) {
    b.onclick = async () => {
      b.disabled = true;
      try {
        await api('POST', `/api/admin/users/${encodeURIComponent(b.dataset.login)}/${b.dataset.act}`);
        await reload();
      } catch (e) {
        $('#users-error').textContent = e.message;
        b.disabled = false;
      }
    };
  }
  $('#approve').onsubmit = async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/api/admin/users', { login: $('#approve-login').value.trim() });
      await reload();
    } catch (err) {
      $('#users-error').textContent = err.message;
    }
  };
}

async function settingsPage(ui, nav) {
  const { api, $, esc } = ui;
  const s = await api('GET', '/api/admin/settings');
  if (!ui.current()) return;
  $('#main').innerHTML = `${nav}<h2>System settings</h2><div class="card"><form id="settings">
    <p><label><input type="checkbox" id="suspend-new-users" ${s.suspend_new_users ? 'checked' : ''}> Suspend New Users</label><br>
    <span class="muted">New accounts start suspended; an administrator activates them (Admin → Users).</span></p>
    <p><label>Required Org Membership List<br><input id="required-orgs" size="60" value="${esc(s.required_org_membership)}" placeholder="org1,org2"></label><br>
    <span class="muted">Comma-separated GitHub organizations; only their members may log in (checked at each login).</span></p>
    <button class="primary" id="save-settings">Save</button> <span id="settings-status"></span></form></div>`;
  $('#settings').onsubmit = async (e) => {
    e.preventDefault();
    try {
      const saved = await api('PUT', '/api/admin/settings', {
        suspend_new_users: $('#suspend-new-users').checked,
        required_org_membership: $('#required-orgs').value,
      });
      $('#required-orgs').value = saved.required_org_membership;
      $('#settings-status').textContent = 'Saved.';
    } catch (err) {
      $('#settings-status').textContent = err.message;
    }
  };
}

async function auditPage(ui, nav) {
  const { $, esc } = ui;
  $('#main').innerHTML = `${nav}<h2>Audit log</h2><div class="card"><form id="audit">
    <label>From <input type="datetime-local" id="audit-from"></label> <label>To <input type="datetime-local" id="audit-to"></label>
    <button class="primary" id="audit-download">Download CSV</button> <span class="errors" id="audit-error"></span></form>
    <p class="muted">Times are UTC. Nested fields (actor, target, payload, metadata, scope, request) are JSON. The <code>id</code> of each event is unique: use it to drop duplicates.</p></div>
    <div class="card"><h3>Latest events</h3><table id="audit-preview"></table></div>`;
  const query = () => {
    const q = new URLSearchParams();
    for (const [k, id] of [
      ['from', '#audit-from'],
      ['to', '#audit-to'],
    ])
      if ($(id).value) q.set(k, `${$(id).value}:00Z`);
    return q.size ? `?${q}` : '';
  };
  const fetchCsv = async () => {
    const token = localStorage.getItem('roundhouse-token');
    const res = await fetch(`/api/admin/audit-log${query()}`, { headers: token ? { 'circle-token': token } : {} });
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message ?? `HTTP ${res.status}`);
    return res.text();
  };
  const text = await fetchCsv();
  if (!ui.current()) return;
  const lines = text.trim().split('\r\n');
  const rows = lines.slice(1).slice(-20).reverse();
  $('#audit-preview').innerHTML =
    `<tr><th>occurred_at</th><th>action</th><th>success</th></tr>` +
    rows
      .map((l) => {
        const action = l.split(',')[0];
        const at = /,(\d{4}-\d\d-\d\dT[^,]+Z),/.exec(l)?.[1] ?? '';
        const ok = /,(true|false),/.exec(l)?.[1] ?? '';
        return `<tr data-action="${esc(action)}"><td class="muted">${esc(at)}</td><td>${esc(action)}</td><td>${esc(ok)}</td></tr>`;
      })
      .join('');
  $('#audit').onsubmit = async (e) => {
    e.preventDefault();
    try {
      const csv = await fetchCsv();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      a.download = 'audit-log.csv';
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (err) {
      $('#audit-error').textContent = err.message;
    }
  };
}

async function accountPage(ui) {
  const { api, $, esc, crumbs } = ui;
  const [acct, tokens] = await Promise.all([api('GET', '/api/account'), api('GET', '/api/v1.1/user/token')]);
  if (!ui.current()) return;
  crumbs([['Account', '/account']]);
  $('#main').innerHTML = `<h2>${esc(acct.login)}</h2>
    <div class="card"><h3>Permissions</h3><p>Organizations: <span id="orgs">${esc(acct.organizations.map((o) => `${o.org} (${o.role})`).join(', ') || 'none')}</span><br>
    Teams: <span id="teams">${esc(acct.teams.map((t) => `${t.org}/${t.team}`).join(', ') || 'none')}</span><br>
    <span class="muted">From GitHub, cached; last refreshed ${esc(when(acct.permissions_refreshed_at))}.</span></p>
    <button id="refresh-permissions">Refresh Permissions</button> <span id="refresh-status"></span></div>
    <div class="card"><h3>Personal API tokens</h3><table id="tokens">${tokens
      .map(
        (t) =>
          `<tr><td>${esc(t.label)}</td><td class="muted">${esc(when(t.time))}</td><td><button data-revoke="${esc(t.id)}">Revoke</button></td></tr>`,
      )
      .join('')}</table>
    <form id="new-token"><input id="token-label" placeholder="label"> <button class="primary">Create token</button></form><pre id="new-token-value"></pre></div>`;
  $('#refresh-permissions').onclick = async () => {
    try {
      await api('POST', '/api/account/refresh-permissions');
      await accountPage(ui);
      $('#refresh-status').textContent = 'Refreshed.';
    } catch (e) {
      $('#refresh-status').textContent = e.message;
    }
  };
  for (const b of document.querySelectorAll('button[data-revoke]'))
    b.onclick = async () => {
      await api('DELETE', `/api/v1.1/user/token/${encodeURIComponent(b.dataset.revoke)}`);
      await accountPage(ui);
    };
  $('#new-token').onsubmit = async (e) => {
    e.preventDefault();
    const t = await api('POST', '/api/v1.1/user/token', { label: $('#token-label').value.trim() || 'token' });
    await accountPage(ui);
    $('#new-token-value').textContent = `New token (shown once): ${t.token}`;
  };
}
