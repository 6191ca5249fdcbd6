import type { JobEvent, JobOutcome, StepStatus } from '../protocol/executor.js';
import { EXECUTOR_API } from '../protocol/executor.js';

/** Raised when the platform tells the executor to stop a job (canceled or taken away). */
export class JobCanceled extends Error {}

/**
 * Sends a job's events to the platform in batches: at most one request in flight, flushed when a
 * step ends and at least every `intervalMs` while output flows.
 */
export class Reporter {
  #pending: JobEvent[] = [];
  #inflight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #seq = new Map<number, number>();
  canceled = false;
  /** Once set, nothing more is sent. */
  closed = false;
  onCancel: () => void = () => undefined;

  readonly #secrets: string[];
  readonly #maxSecret: number;
  readonly #firstChars: Set<string>;
  /** Output held back per step and stream: it may end with the start of a secret. */
  readonly #pendingText = new Map<string, string>();

  constructor(
    readonly server: string,
    readonly jobId: string,
    readonly token: string,
    readonly intervalMs = 50,
    secrets: string[] = [],
    /** The parallel node whose steps this reporter sends. */
    readonly node = 0,
  ) {
    // CircleCI's rule: values under 4 characters and true/false are not masked.
    this.#secrets = [...new Set(secrets.filter((v) => v.length >= 4 && v !== 'true' && v !== 'false'))].sort(
      (a, b) => b.length - a.length,
    );
    this.#maxSecret = Math.max(0, ...this.#secrets.map((v) => v.length));
    this.#firstChars = new Set(this.#secrets.map((v) => v[0]));
  }

  /** Events of node 0 leave the field out, as executors before parallelism did. */
  get #node(): { node?: number } {
    return this.node ? { node: this.node } : {};
  }

  #mask(text: string): string {
    let out = text;
    for (const v of this.#secrets) out = out.split(v).join('********');
    return out;
  }

  #push(e: JobEvent, now = false) {
    if (this.closed) return;
    this.#pending.push(e);
    if (now) void this.flush().catch(() => undefined);
    else this.#timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.intervalMs);
  }

  stepStart(idx: number, name: string, type: string, bash_command?: string) {
    this.#push({ kind: 'step.start', ...this.#node, idx, name, type, bash_command, ts: new Date().toISOString() });
  }
  /** Step output, with secret values masked, also when a value arrives split across chunks. */
  output(idx: number, stream: 'out' | 'err', data: string) {
    if (!this.#secrets.length) return this.#emit(idx, stream, data);
    const key = `${idx}:${stream}`;
    const text = (this.#pendingText.get(key) ?? '') + data;
    // Hold back only a tail that could be the start of a secret; never cut through a whole occurrence.
    // Only positions holding a secret's first character are candidates (cheap with long keys as secrets).
    let cut = text.length;
    for (let p = Math.max(0, text.length - (this.#maxSecret - 1)); p < text.length; p++) {
      if (!this.#firstChars.has(text[p])) continue;
      const rest = text.length - p;
      if (this.#secrets.some((v) => v.length > rest && text.startsWith(v.slice(0, rest), p))) {
        cut = p;
        break;
      }
    }
    for (const v of this.#secrets) {
      for (let at = text.indexOf(v); at >= 0; at = text.indexOf(v, at + 1))
        if (at < cut && at + v.length > cut) cut = at;
    }
    this.#pendingText.set(key, text.slice(cut));
    if (cut > 0) this.#emit(idx, stream, this.#mask(text.slice(0, cut)));
  }
  #flushText(idx: number) {
    for (const stream of ['out', 'err'] as const) {
      const key = `${idx}:${stream}`;
      const rest = this.#pendingText.get(key);
      if (rest) this.#emit(idx, stream, this.#mask(rest));
      this.#pendingText.delete(key);
    }
  }
  #emit(idx: number, stream: 'out' | 'err', data: string) {
    const seq = (this.#seq.get(idx) ?? 0) + 1;
    this.#seq.set(idx, seq);
    this.#push({ kind: 'output', ...this.#node, idx, seq, stream, data, ts: new Date().toISOString() });
  }
  stepEnd(idx: number, status: StepStatus, exit_code: number | null) {
    this.#flushText(idx);
    this.#push({ kind: 'step.end', ...this.#node, idx, status, exit_code, ts: new Date().toISOString() });
  }
  heartbeat() {
    this.#push({ kind: 'heartbeat', ts: new Date().toISOString() }, true);
  }

  /** Sends everything pending; resolves when the platform has it. */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#inflight) await this.#inflight;
    if (this.#pending.length === 0 || this.closed) return;
    const events = this.#pending;
    this.#pending = [];
    this.#inflight = this.#post('events', { events }).finally(() => {
      this.#inflight = undefined;
    });
    await this.#inflight;
  }

  /** Sends everything pending, held-back text included (a parallel node that is done; another node finishes). */
  async finishNode(): Promise<void> {
    for (const key of [...this.#pendingText.keys()]) this.#flushText(Number(key.split(':')[0]));
    await this.flush();
  }

  /** Reports the outcome, with whatever events are still pending, in one request. */
  async finish(status: JobOutcome): Promise<void> {
    for (const key of [...this.#pendingText.keys()]) this.#flushText(Number(key.split(':')[0]));
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#inflight) await this.#inflight;
    if (this.closed) return;
    const events = this.#pending;
    this.#pending = [];
    await this.#post('finish', { status, events });
  }

  async #post(what: string, body: unknown): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const res = await fetch(`${this.server}${EXECUTOR_API}/jobs/${this.jobId}/${what}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
          body: JSON.stringify(body),
        });
        const json = (await res.json().catch(() => ({}))) as { cancel?: boolean };
        if (res.status === 409 || json.cancel) {
          if (!this.canceled) {
            this.canceled = true;
            this.onCancel();
          }
          return;
        }
        if (res.ok) return;
        if (res.status < 500) throw new Error(`platform refused ${what}: HTTP ${res.status}`);
        lastError = new Error(`HTTP ${res.status}`);
      } catch (e) {
        lastError = e;
      }
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
    throw lastError;
  }
}
