import type { AuditLog } from '../audit/log.js';
import type { Conductor } from '../conductor/conductor.js';
import type { Identity } from '../identity/service.js';
import type { Dispatcher } from '../dispatcher/dispatcher.js';
import type { ObjectStore } from '../objects/store.js';
import type { Envelope } from '../secrets/envelope.js';
import type { OrbRegistry } from '../orbs/registry.js';
import type { OutputService } from '../output/output.js';
import type { Bus } from '../shared/bus.js';
import { notFound } from '../shared/errors.js';
import type { ProjectRow, Store } from '../store/store.js';

/** What the api role is built from. */
export interface ApiDeps {
  readonly store: Store;
  readonly bus: Bus;
  readonly conductor: Conductor;
  readonly dispatcher: Dispatcher;
  readonly output: OutputService;
  readonly executorToken: string;
  /** Base URL for links; known only after listen when the port is chosen by the OS. */
  publicUrl: string;
  /** Secret for signed output URLs. */
  readonly urlSecret: string;
  /** Extra facts shown on the UI (e.g. the sandbox mode). */
  readonly notices: string[];
  /** The private orb registry. */
  readonly orbs?: OrbRegistry;
  /** Encrypts secrets at rest. */
  readonly envelope?: Envelope;
  /** Serve html/css/js/xml/svg artifacts as their own types (operator's choice; off = as text). */
  readonly artifactsServeUnsafe?: boolean;
  /** Object storage for caches and workspaces. */
  readonly objects?: ObjectStore;
  /** Users, logins, sessions, memberships. */
  readonly identity?: Identity;
  /** The audit log (store + object storage). */
  readonly audit?: AuditLog;
  /** Secret GitHub signs webhook deliveries with; unset = webhooks refused. */
  readonly webhookSecret?: string;
}

const VCS_ALIASES: Record<string, string> = { gh: 'gh', github: 'gh', bb: 'bb', bitbucket: 'bb', circleci: 'circleci' };

export function normaliseVcs(vcs: string): string | undefined {
  return VCS_ALIASES[vcs.toLowerCase()];
}

export function slugOf(p: { vcs: string; org: string; repo: string }): string {
  return `${normaliseVcs(p.vcs) ?? p.vcs}/${p.org}/${p.repo}`;
}

export async function projectOf(store: Store, p: { vcs: string; org: string; repo: string }): Promise<ProjectRow> {
  const project = await store.projectBySlug(slugOf(p));
  if (!project) throw notFound('Project');
  return project;
}

export function pageOf(token: unknown): number {
  if (typeof token !== 'string' || !token) return 0;
  const n = Number(Buffer.from(token, 'base64url').toString('utf8'));
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

export const pageToken = (offset: number) => Buffer.from(String(offset)).toString('base64url');
