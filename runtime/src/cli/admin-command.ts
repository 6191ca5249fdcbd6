import type { ApiClient } from './client.js';
import { CliError } from './client.js';

const USERS_USAGE =
  'usage: roundhouse admin users list | add <login> | suspend <login> | activate <login> | delete <login>';

/** `roundhouse admin …`: users, system settings and the audit log, through the admin API. */
export async function adminCommand(
  sub: string | undefined,
  positionals: string[],
  values: { from?: string; to?: string; 'suspend-new-users'?: string; 'required-orgs'?: string },
  client: () => ApiClient,
): Promise<number> {
  if (sub === 'users') {
    const [action, login] = positionals;
    if (action === 'list' || action === undefined) {
      const { items } = await client().request<{
        items: { login: string; state: string; admin: boolean; last_login_at: string | null }[];
      }>('GET', '/api/admin/users');
      const rows = items.map((u) => [u.login, u.state, u.admin ? 'admin' : '', u.last_login_at ?? 'never']);
      const width = Math.max(5, ...rows.map((r) => r[0].length));
      process.stdout.write(`${'LOGIN'.padEnd(width)}  STATE      ROLE   LAST LOGIN\n`);
      for (const r of rows)
        process.stdout.write(`${r[0].padEnd(width)}  ${r[1].padEnd(9)}  ${r[2].padEnd(5)}  ${r[3]}\n`);
      return 0;
    }
    if (!login) throw new CliError(USERS_USAGE);
    const path = `/api/admin/users/${encodeURIComponent(login)}`;
    if (action === 'add') await client().request('POST', '/api/admin/users', { login });
    else if (action === 'suspend' || action === 'activate') await client().request('POST', `${path}/${action}`);
    else if (action === 'delete') await client().request('DELETE', path);
    else throw new CliError(USERS_USAGE);
    const done = {
      add: 'added (inactive until first login)',
      suspend: 'suspended',
      activate: 'activated',
      delete: 'deleted',
    };
    process.stdout.write(`${login} ${done[action]}\n`);
    return 0;
  }
  if (sub === 'audit-log') {
    const q = new URLSearchParams();
    if (values.from) q.set('from', values.from);
    if (values.to) q.set('to', values.to);
    process.stdout.write(await client().requestText('GET', `/api/admin/audit-log${q.size ? `?${q}` : ''}`));
    return 0;
  }
  if (sub === 'settings') {
    const body: Record<string, unknown> = {};
    const s = values['suspend-new-users'];
    if (s !== undefined) {
      if (s !== 'true' && s !== 'false') throw new CliError('--suspend-new-users takes true or false');
      body.suspend_new_users = s === 'true';
    }
    if (values['required-orgs'] !== undefined) body.required_org_membership = values['required-orgs'];
    const out = Object.keys(body).length
      ? await client().request('PUT', '/api/admin/settings', body)
      : await client().request('GET', '/api/admin/settings');
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  throw new CliError(
    'usage: roundhouse admin users … | admin settings [--suspend-new-users true|false] [--required-orgs a,b] | admin audit-log [--from T] [--to T]',
  );
}
