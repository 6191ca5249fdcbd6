import type { Db } from './db.js';

export interface ContextRow {
  id: string;
  org_id: string;
  name: string;
  created_at: string;
}
export interface CheckoutKeyRow {
  project_id: string;
  fingerprint: string;
  type: string;
  public_key: string;
  private_enc: string;
  preferred: number;
  created_at: string;
}

const now = () => new Date().toISOString();

/** Contexts, their variables and security groups, checkout keys: every value envelope-encrypted by the caller. */
export class SecretStore {
  constructor(readonly db: Db) {}

  context(id: string) {
    return this.db.get<ContextRow>('SELECT * FROM contexts WHERE id = ?', [id]);
  }
  contextByName(name: string) {
    return this.db.get<ContextRow>('SELECT * FROM contexts WHERE name = ?', [name]);
  }
  contextsOfOrg(orgId: string, limit: number, offset: number) {
    return this.db.all<ContextRow>('SELECT * FROM contexts WHERE org_id = ? ORDER BY name LIMIT ? OFFSET ?', [
      orgId,
      limit,
      offset,
    ]);
  }
  async countContexts(orgId: string) {
    return Number(
      (await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM contexts WHERE org_id = ?', [orgId]))?.n ?? 0,
    );
  }
  async insertContext(row: ContextRow) {
    await this.db.run('INSERT INTO contexts (id, org_id, name, created_at) VALUES (?, ?, ?, ?)', [
      row.id,
      row.org_id,
      row.name,
      row.created_at,
    ]);
  }
  async deleteContext(id: string) {
    await this.db.run('DELETE FROM context_env_vars WHERE context_id = ?', [id]);
    await this.db.run('DELETE FROM context_groups WHERE context_id = ?', [id]);
    return (await this.db.run('DELETE FROM contexts WHERE id = ?', [id])) > 0;
  }
  contextVars(contextId: string) {
    return this.db.all<{ name: string; value_enc: string; created_at: string }>(
      'SELECT name, value_enc, created_at FROM context_env_vars WHERE context_id = ? ORDER BY name',
      [contextId],
    );
  }
  /** Stores a variable; returns its created_at (kept when the variable is updated). */
  async putContextVar(contextId: string, name: string, valueEnc: string): Promise<string> {
    const old = await this.db.get<{ created_at: string }>(
      'SELECT created_at FROM context_env_vars WHERE context_id = ? AND name = ?',
      [contextId, name],
    );
    const created = old?.created_at ?? now();
    await this.db.run('DELETE FROM context_env_vars WHERE context_id = ? AND name = ?', [contextId, name]);
    await this.db.run('INSERT INTO context_env_vars (context_id, name, value_enc, created_at) VALUES (?, ?, ?, ?)', [
      contextId,
      name,
      valueEnc,
      created,
    ]);
    return created;
  }
  async deleteContextVar(contextId: string, name: string) {
    return (await this.db.run('DELETE FROM context_env_vars WHERE context_id = ? AND name = ?', [contextId, name])) > 0;
  }
  groupsOf(contextId: string) {
    return this.db.all<{ id: string; team: string; created_at: string }>(
      'SELECT id, team, created_at FROM context_groups WHERE context_id = ? ORDER BY team',
      [contextId],
    );
  }
  async addGroup(id: string, contextId: string, team: string) {
    await this.db.run(
      'INSERT INTO context_groups (id, context_id, team, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      [id, contextId, team, now()],
    );
  }
  async deleteGroup(contextId: string, id: string) {
    return (await this.db.run('DELETE FROM context_groups WHERE context_id = ? AND id = ?', [contextId, id])) > 0;
  }

  checkoutKeys(projectId: string) {
    return this.db.all<CheckoutKeyRow>('SELECT * FROM checkout_keys WHERE project_id = ? ORDER BY created_at', [
      projectId,
    ]);
  }
  async insertCheckoutKey(row: CheckoutKeyRow) {
    await this.db.run(
      'INSERT INTO checkout_keys (project_id, fingerprint, type, public_key, private_enc, preferred, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [row.project_id, row.fingerprint, row.type, row.public_key, row.private_enc, row.preferred, row.created_at],
    );
  }
  async deleteCheckoutKey(projectId: string, fingerprint: string) {
    return (
      (await this.db.run('DELETE FROM checkout_keys WHERE project_id = ? AND fingerprint = ?', [
        projectId,
        fingerprint,
      ])) > 0
    );
  }

  /** Every stored secret, for key rotation: table, key columns, the encrypted column and its value. */
  async allEncrypted(): Promise<{ table: string; where: string; params: string[]; column: string; value: string }[]> {
    const out: { table: string; where: string; params: string[]; column: string; value: string }[] = [];
    for (const r of await this.db.all<{ project_id: string; name: string; value_enc: string }>(
      'SELECT project_id, name, value_enc FROM project_env_vars',
    ))
      out.push({
        table: 'project_env_vars',
        where: 'project_id = ? AND name = ?',
        params: [r.project_id, r.name],
        column: 'value_enc',
        value: r.value_enc,
      });
    for (const r of await this.db.all<{ context_id: string; name: string; value_enc: string }>(
      'SELECT context_id, name, value_enc FROM context_env_vars',
    ))
      out.push({
        table: 'context_env_vars',
        where: 'context_id = ? AND name = ?',
        params: [r.context_id, r.name],
        column: 'value_enc',
        value: r.value_enc,
      });
    for (const r of await this.db.all<{
      project_id: string;
      fingerprint: string;
      hostname: string;
      private_key_enc: string;
    }>('SELECT project_id, fingerprint, hostname, private_key_enc FROM project_ssh_keys'))
      out.push({
        table: 'project_ssh_keys',
        where: 'project_id = ? AND fingerprint = ? AND hostname = ?',
        params: [r.project_id, r.fingerprint, r.hostname],
        column: 'private_key_enc',
        value: r.private_key_enc,
      });
    for (const r of await this.db.all<{ project_id: string; fingerprint: string; private_enc: string }>(
      'SELECT project_id, fingerprint, private_enc FROM checkout_keys',
    ))
      out.push({
        table: 'checkout_keys',
        where: 'project_id = ? AND fingerprint = ?',
        params: [r.project_id, r.fingerprint],
        column: 'private_enc',
        value: r.private_enc,
      });
    for (const r of await this.db.all<{ id: string; github_token_enc: string }>(
      'SELECT id, github_token_enc FROM users WHERE github_token_enc IS NOT NULL',
    ))
      out.push({
        table: 'users',
        where: 'id = ?',
        params: [r.id],
        column: 'github_token_enc',
        value: r.github_token_enc,
      });
    return out;
  }
  /** Replaces one encrypted value if it is still what was read (a concurrent write wins). */
  async replaceEncrypted(
    e: { table: string; where: string; params: string[]; column: string; value: string },
    next: string,
  ) {
    return (
      (await this.db.run(`UPDATE ${e.table} SET ${e.column} = ? WHERE ${e.where} AND ${e.column} = ?`, [
        next,
        ...e.params,
        e.value,
      ])) > 0
    );
  }

  // webhook deliveries: a delivery id is processed once
  async claimDelivery(id: string, event: string): Promise<boolean> {
    return (
      (await this.db.run(
        'INSERT INTO webhook_deliveries (id, event, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
        [id, event, now()],
      )) > 0
    );
  }
}
