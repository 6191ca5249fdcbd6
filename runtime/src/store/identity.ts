import type { Db, Param } from './db.js';

export type UserState = 'active' | 'inactive' | 'suspended';

export interface IdentityUserRow {
  id: string;
  login: string;
  name: string;
  is_admin: number;
  created_at: string;
  state: UserState;
  github_id: string | null;
  last_login_at: string | null;
  github_token_enc: string | null;
  permissions_at: string | null;
}

export interface TokenRow {
  id: string | null;
  token_hash: string;
  user_id: string;
  label: string;
  created_at: string;
}

export interface OrgRow {
  id: string;
  vcs_type: string;
  name: string;
  created_at: string;
}

const now = () => new Date().toISOString();

/** Users, their tokens, sessions, cached GitHub memberships and the system settings. */
export class IdentityStore {
  constructor(readonly db: Db) {}

  user(id: string) {
    return this.db.get<IdentityUserRow>('SELECT * FROM users WHERE id = ?', [id]);
  }
  userByLogin(login: string) {
    return this.db.get<IdentityUserRow>('SELECT * FROM users WHERE login = ?', [login]);
  }
  userByGithubId(githubId: string) {
    return this.db.get<IdentityUserRow>('SELECT * FROM users WHERE github_id = ?', [githubId]);
  }
  listUsers() {
    return this.db.all<IdentityUserRow>('SELECT * FROM users ORDER BY login');
  }
  async insertUser(row: IdentityUserRow) {
    const keys = Object.keys(row);
    await this.db.run(
      `INSERT INTO users (${keys.join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`,
      Object.values(row) as Param[],
    );
  }
  async updateUser(id: string, fields: Partial<IdentityUserRow>) {
    const keys = Object.keys(fields);
    await this.db.run(`UPDATE users SET ${keys.map((k) => `${k} = ?`).join(', ')} WHERE id = ?`, [
      ...(Object.values(fields) as Param[]),
      id,
    ]);
  }
  /** Deletes a user and everything that belongs to them (tokens, sessions, memberships). */
  async deleteUser(id: string) {
    for (const t of ['api_tokens', 'sessions', 'user_orgs', 'user_teams'])
      await this.db.run(`DELETE FROM ${t} WHERE user_id = ?`, [id]);
    return (await this.db.run('DELETE FROM users WHERE id = ?', [id])) > 0;
  }

  // API tokens (stored as sha256 hashes)
  userByTokenHash(hash: string) {
    return this.db.get<IdentityUserRow>(
      'SELECT u.* FROM users u JOIN api_tokens t ON t.user_id = u.id WHERE t.token_hash = ?',
      [hash],
    );
  }
  tokensOf(userId: string) {
    return this.db.all<TokenRow>('SELECT * FROM api_tokens WHERE user_id = ? ORDER BY created_at', [userId]);
  }
  async addToken(row: TokenRow) {
    await this.db.run('INSERT INTO api_tokens (id, token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?, ?)', [
      row.id,
      row.token_hash,
      row.user_id,
      row.label,
      row.created_at,
    ]);
  }
  async deleteToken(userId: string, id: string) {
    return (await this.db.run('DELETE FROM api_tokens WHERE user_id = ? AND id = ?', [userId, id])) > 0;
  }

  // browser sessions (id stored hashed)
  session(idHash: string) {
    return this.db.get<{ id_hash: string; user_id: string; csrf: string; expires_at: string }>(
      'SELECT * FROM sessions WHERE id_hash = ?',
      [idHash],
    );
  }
  async addSession(idHash: string, userId: string, csrf: string, expiresAt: string) {
    await this.db.run('INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)', [
      idHash,
      userId,
      csrf,
      now(),
      expiresAt,
    ]);
  }
  async deleteSession(idHash: string) {
    await this.db.run('DELETE FROM sessions WHERE id_hash = ?', [idHash]);
  }

  // GitHub memberships, cached
  orgsOf(userId: string) {
    return this.db.all<{ org: string; role: string }>(
      'SELECT org, role FROM user_orgs WHERE user_id = ? ORDER BY org',
      [userId],
    );
  }
  teamsOf(userId: string) {
    return this.db.all<{ org: string; team: string }>(
      'SELECT org, team FROM user_teams WHERE user_id = ? ORDER BY org, team',
      [userId],
    );
  }
  async setMemberships(userId: string, orgs: { org: string; role: string }[], teams: { org: string; team: string }[]) {
    await this.db.run('DELETE FROM user_orgs WHERE user_id = ?', [userId]);
    await this.db.run('DELETE FROM user_teams WHERE user_id = ?', [userId]);
    for (const o of orgs)
      await this.db.run('INSERT INTO user_orgs (user_id, org, role) VALUES (?, ?, ?)', [userId, o.org, o.role]);
    for (const t of teams)
      await this.db.run('INSERT INTO user_teams (user_id, org, team) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [
        userId,
        t.org,
        t.team,
      ]);
    await this.db.run('UPDATE users SET permissions_at = ? WHERE id = ?', [now(), userId]);
  }

  // system settings
  async settings(): Promise<Record<string, string>> {
    const rows = await this.db.all<{ name: string; value: string }>('SELECT name, value FROM system_settings');
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  }
  async putSetting(name: string, value: string) {
    await this.db.run('DELETE FROM system_settings WHERE name = ?', [name]);
    await this.db.run('INSERT INTO system_settings (name, value) VALUES (?, ?)', [name, value]);
  }

  // organizations (ids are ours: UUIDs, as CircleCI's owner ids are)
  orgByName(vcsType: string, name: string) {
    return this.db.get<OrgRow>('SELECT * FROM organizations WHERE vcs_type = ? AND name = ?', [vcsType, name]);
  }
  org(id: string) {
    return this.db.get<OrgRow>('SELECT * FROM organizations WHERE id = ?', [id]);
  }
  async ensureOrg(vcsType: string, name: string, id: string): Promise<OrgRow> {
    await this.db.run(
      'INSERT INTO organizations (id, vcs_type, name, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      [id, vcsType, name, now()],
    );
    return (await this.orgByName(vcsType, name))!;
  }
}
