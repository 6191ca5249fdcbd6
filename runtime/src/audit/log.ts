import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ObjectStore } from '../objects/store.js';
import { AUDIT_FIELDS, type AuditEvent, type AuditSink } from '../shared/audit.js';
import type { AuditRow } from '../store/audit.js';
import type { Store } from '../store/store.js';

/** ISO-8601 UTC with nine fractional digits: milliseconds from the clock, nanoseconds from hrtime. */
function occurredAt(): string {
  const ms = Date.now();
  const ns = String(process.hrtime.bigint() % 1000000n).padStart(6, '0');
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, `.$1${ns}Z`);
}

/**
 * The audit log: every event goes to the store (for the CSV download) and, one object per event,
 * to object storage (`audit/<day>/<time>-<id>.json`), as CircleCI's audit-log-service does.
 * A failure to write is reported to `onError` and never breaks the action being audited.
 */
export class AuditLog implements AuditSink {
  constructor(
    readonly store: Store,
    readonly objects?: ObjectStore,
    readonly onError: (e: Error) => void = () => undefined,
  ) {}

  async record(e: Parameters<AuditSink['record']>[0]): Promise<void> {
    const event: AuditEvent = {
      action: e.action,
      actor: e.actor,
      target: e.target,
      payload: e.payload,
      occurred_at: occurredAt(),
      metadata: e.metadata ?? {},
      id: randomUUID(),
      version: 1,
      scope: e.scope,
      success: e.success,
      request: e.request ?? null,
    };
    try {
      await this.store.audit.insert(toRow(event));
      if (this.objects) {
        const day = event.occurred_at.slice(0, 10);
        const key = `audit/${day}/${event.occurred_at.replace(/[:.]/g, '-')}-${event.id}.json`;
        await this.objects.put(key, Readable.from([Buffer.from(JSON.stringify(event))]));
      }
    } catch (err) {
      this.onError(err as Error);
    }
  }

  async events(from?: string, to?: string): Promise<AuditEvent[]> {
    return (await this.store.audit.list(from, to)).map(fromRow);
  }
}

function toRow(e: AuditEvent): AuditRow {
  return {
    id: e.id,
    action: e.action,
    actor: JSON.stringify(e.actor),
    target: JSON.stringify(e.target),
    payload: JSON.stringify(e.payload),
    occurred_at: e.occurred_at,
    metadata: JSON.stringify(e.metadata),
    version: e.version,
    scope: JSON.stringify(e.scope),
    success: e.success ? 1 : 0,
    request: e.request ? JSON.stringify(e.request) : '',
  };
}

export function fromRow(r: AuditRow): AuditEvent {
  return {
    action: r.action as AuditEvent['action'],
    actor: JSON.parse(r.actor),
    target: JSON.parse(r.target),
    payload: JSON.parse(r.payload),
    occurred_at: r.occurred_at,
    metadata: JSON.parse(r.metadata),
    id: r.id,
    version: 1,
    scope: JSON.parse(r.scope),
    success: Number(r.success) === 1,
    request: r.request ? JSON.parse(r.request) : null,
  };
}

const cell = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** RFC 4180 CSV, the guide's columns in its order; nested fields as JSON. */
export function auditCsv(events: AuditEvent[]): string {
  const lines = [AUDIT_FIELDS.join(',')];
  for (const e of events) {
    lines.push(
      AUDIT_FIELDS.map((f) => {
        const v = e[f];
        if (v === null) return '';
        if (typeof v === 'object') return cell(JSON.stringify(v));
        return cell(String(v));
      }).join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
