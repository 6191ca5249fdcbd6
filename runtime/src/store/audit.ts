import type { Db } from './db.js';

export interface AuditRow {
  id: string;
  action: string;
  actor: string;
  target: string;
  payload: string;
  occurred_at: string;
  metadata: string;
  version: number;
  scope: string;
  success: number;
  request: string;
}

/** The audit log's rows (also written to object storage by the audit log itself). */
export class AuditStore {
  constructor(readonly db: Db) {}

  async insert(r: AuditRow) {
    await this.db.run(
      'INSERT INTO audit_events (id, action, actor, target, payload, occurred_at, metadata, version, scope, success, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      [
        r.id,
        r.action,
        r.actor,
        r.target,
        r.payload,
        r.occurred_at,
        r.metadata,
        r.version,
        r.scope,
        r.success,
        r.request,
      ],
    );
  }
  /** Events in [from, to) by time, oldest first. */
  list(from?: string, to?: string) {
    return this.db.all<AuditRow>(
      'SELECT * FROM audit_events WHERE occurred_at >= ? AND occurred_at < ? ORDER BY occurred_at, id',
      [from ?? '', to ?? '~'],
    );
  }
}
