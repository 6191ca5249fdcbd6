import type { JobEvent } from '../protocol/executor.js';
import type { Bus } from '../shared/bus.js';
import type { Store } from '../store/store.js';

/**
 * The output role: takes step events from executors, stores them durably and fans them out live.
 * Idempotent: a step start replaces the step, an output chunk is keyed by (job, step, seq).
 */
export class OutputService {
  constructor(
    readonly store: Store,
    readonly bus: Bus,
  ) {}

  async ingest(jobId: string, events: JobEvent[]): Promise<void> {
    if (events.every((e) => e.kind === 'heartbeat')) return;
    await this.store.tx(async (s) => {
      for (const e of events) {
        if (e.kind === 'step.start') {
          await s.upsertStep({
            job_id: jobId,
            idx: e.idx,
            name: e.name,
            type: e.type,
            status: 'running',
            exit_code: null,
            bash_command: e.bash_command ?? null,
            started_at: e.ts,
            stopped_at: null,
          });
        } else if (e.kind === 'output') {
          await s
            .appendOutput({ job_id: jobId, step_idx: e.idx, seq: e.seq, stream: e.stream, ts: e.ts, data: e.data })
            .catch((err) => {
              // A retried batch repeats chunks we already have; anything else is real.
              if (!/UNIQUE|duplicate key/i.test(String(err))) throw err;
            });
        } else if (e.kind === 'step.end') {
          await s.updateStep(jobId, e.idx, { status: e.status, exit_code: e.exit_code, stopped_at: e.ts });
        }
      }
    });
    for (const e of events) {
      if (e.kind === 'output')
        this.bus.emit('output', { jobId, stepIdx: e.idx, seq: e.seq, ts: e.ts, data: e.data, stream: e.stream });
      else if (e.kind === 'step.start')
        this.bus.emit('step', { jobId, idx: e.idx, name: e.name, status: 'running', exit_code: null });
      else if (e.kind === 'step.end')
        this.bus.emit('step', { jobId, idx: e.idx, name: '', status: e.status, exit_code: e.exit_code });
    }
  }
}
