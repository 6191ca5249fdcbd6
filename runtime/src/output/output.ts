import { Readable } from 'node:stream';
import type { ObjectStore } from '../objects/store.js';
import type { JobEvent } from '../protocol/executor.js';
import type { Bus } from '../shared/bus.js';
import type { OutputChunkRow, Store } from '../store/store.js';

/** Where a finished step's output is kept in object storage: one object per step and node. */
export const outputKey = (jobId: string, node: number, idx: number) => `output/${jobId}/${node}/${idx}.jsonl`;

/**
 * The output role: takes step events from executors, stores them durably and fans them out live.
 * Idempotent: a step start replaces the step, an output chunk is keyed by (job, node, step, seq).
 *
 * While a step runs its output is kept in the database, chunk by chunk as it arrives, so it can be
 * read (and streamed) at once. When the step ends its chunks move to object storage as one object
 * (a JSON line per chunk) and leave the database; readers merge both places.
 */
export class OutputService {
  constructor(
    readonly store: Store,
    readonly bus: Bus,
    readonly objects?: ObjectStore,
    readonly log: (msg: string) => void = () => undefined,
  ) {}

  async ingest(jobId: string, events: JobEvent[]): Promise<void> {
    if (events.every((e) => e.kind === 'heartbeat')) return;
    const ended: { node: number; idx: number }[] = [];
    await this.store.tx(async (s) => {
      // A retried batch may repeat output of a step whose output already moved to object storage.
      const moved = new Map<string, boolean>();
      const isMoved = async (node: number, idx: number) => {
        const k = `${node}:${idx}`;
        if (!moved.has(k)) moved.set(k, Boolean((await s.step(jobId, node, idx))?.output_key));
        return moved.get(k);
      };
      for (const e of events) {
        if (e.kind === 'heartbeat') continue;
        const node = e.node ?? 0;
        if (e.kind === 'step.start') {
          await s.upsertStep({
            job_id: jobId,
            node,
            idx: e.idx,
            name: e.name,
            type: e.type,
            status: 'running',
            exit_code: null,
            bash_command: e.bash_command ?? null,
            started_at: e.ts,
            stopped_at: null,
          });
          moved.set(`${node}:${e.idx}`, false);
        } else if (e.kind === 'output') {
          if (await isMoved(node, e.idx)) continue;
          await s
            .appendOutput({
              job_id: jobId,
              node,
              step_idx: e.idx,
              seq: e.seq,
              stream: e.stream,
              ts: e.ts,
              data: e.data,
            })
            .catch((err) => {
              // A retried batch repeats chunks we already have; anything else is real.
              if (!/UNIQUE|duplicate key/i.test(String(err))) throw err;
            });
        } else if (e.kind === 'step.end') {
          await s.updateStep(jobId, node, e.idx, { status: e.status, exit_code: e.exit_code, stopped_at: e.ts });
          ended.push({ node, idx: e.idx });
        }
      }
    });
    for (const e of events) {
      if (e.kind === 'heartbeat') continue;
      const node = e.node ?? 0;
      if (e.kind === 'output')
        this.bus.emit('output', { jobId, node, stepIdx: e.idx, seq: e.seq, ts: e.ts, data: e.data, stream: e.stream });
      else if (e.kind === 'step.start')
        this.bus.emit('step', { jobId, node, idx: e.idx, name: e.name, status: 'running', exit_code: null });
      else if (e.kind === 'step.end')
        this.bus.emit('step', { jobId, node, idx: e.idx, name: '', status: e.status, exit_code: e.exit_code });
    }
    for (const { node, idx } of ended) await this.#archive(jobId, node, idx);
  }

  /** Moves a finished step's output to object storage; on failure it stays in the database. */
  async #archive(jobId: string, node: number, idx: number) {
    if (!this.objects) return;
    try {
      const chunks = await this.store.output(jobId, node, idx);
      const key = outputKey(jobId, node, idx);
      const body = chunks
        .map((c) => JSON.stringify({ seq: c.seq, stream: c.stream, ts: c.ts, data: c.data }))
        .join('\n');
      await this.objects.put(key, Readable.from([Buffer.from(body)]));
      await this.store.tx(async (s) => {
        await s.updateStep(jobId, node, idx, { output_key: key });
        await s.dropOutput(jobId, node, idx);
      });
    } catch (e) {
      this.log(`output: keeping job ${jobId} step ${idx} output in the database: ${(e as Error).message}`);
    }
  }

  /** A step's output chunks, wherever they are kept, in order. */
  async chunks(jobId: string, node: number, idx: number): Promise<OutputChunkRow[]> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const fromObjects = await this.#fromObjects(jobId, node, idx);
      if (fromObjects) return fromObjects;
      const rows = await this.store.output(jobId, node, idx);
      // Empty: the step may have been archived between the two reads; look once more.
      if (rows.length || attempt) return rows;
    }
    return [];
  }

  async #fromObjects(jobId: string, node: number, idx: number): Promise<OutputChunkRow[] | undefined> {
    const step = await this.store.step(jobId, node, idx);
    if (step?.output_key && this.objects) {
      const body = await this.objects.get(step.output_key);
      if (body) {
        const parts: Buffer[] = [];
        for await (const p of body) parts.push(p as Buffer);
        const text = Buffer.concat(parts).toString('utf8');
        return text
          ? text.split('\n').map((line) => ({ job_id: jobId, node, step_idx: idx, ...JSON.parse(line) }))
          : [];
      }
    }
    return undefined;
  }

  /** Every output chunk of a job, all nodes and steps, in order. */
  async allChunks(jobId: string): Promise<OutputChunkRow[]> {
    const steps = await this.store.stepsOfJob(jobId);
    const out: OutputChunkRow[] = [];
    for (const s of steps) out.push(...(await this.chunks(jobId, s.node, s.idx)));
    return out;
  }
}
