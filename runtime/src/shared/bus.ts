import { EventEmitter } from 'node:events';

/** In-process event bus between roles in one process (embedded mode). */
export interface BusEvents {
  /** A job became claimable. */
  'job.queued': [{ jobId: string }];
  /** Something about a job, its workflow or pipeline changed: UI refresh hint. */
  changed: [{ pipelineId: string; workflowId?: string; jobId?: string }];
  /** New output or step state of a job. */
  output: [{ jobId: string; node: number; stepIdx: number; seq: number; ts: string; data: string; stream: string }];
  step: [{ jobId: string; node: number; idx: number; name: string; status: string; exit_code: number | null }];
}

export class Bus extends EventEmitter<BusEvents> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }
}
