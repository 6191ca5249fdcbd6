import { parse } from 'yaml';
import type { OrbSource } from '../config/types.js';
import { badRequest, RoundhouseError } from '../shared/errors.js';
import { matchVersion, parseOrbRef, SEMVER } from './versions.js';

/** What the registry needs from the store. */
export interface OrbStore {
  orbVersions(
    namespace?: string,
    name?: string,
  ): Promise<{ namespace: string; name: string; version: string; published_by: string; created_at: string }[]>;
  orbVersion(namespace: string, name: string, version: string): Promise<{ source: string } | undefined>;
  publishOrb(row: {
    namespace: string;
    name: string;
    version: string;
    source: string;
    published_by: string;
    created_at: string;
  }): Promise<boolean>;
}

/** The server's private orb registry: every `orbs:` reference of every pipeline resolves here. */
export class OrbRegistry implements OrbSource {
  constructor(readonly store: OrbStore) {}

  async resolve(ref: string) {
    const r = parseOrbRef(ref);
    if (!r) return undefined;
    const versions = (await this.store.orbVersions(r.namespace, r.name)).map((v) => v.version);
    const version = matchVersion(versions, r.version);
    if (!version) return undefined;
    const row = await this.store.orbVersion(r.namespace, r.name, version);
    return row ? { ref: `${r.namespace}/${r.name}@${version}`, yaml: row.source } : undefined;
  }

  /** Publishes `ns/name@x.y.z`; the source must be an orb (a YAML map). Versions are immutable. */
  async publish(ref: string, source: string, actor: string): Promise<void> {
    const r = parseOrbRef(ref);
    if (!r || !SEMVER.test(r.version)) throw badRequest(`"${ref}" must be <namespace>/<orb>@<major.minor.patch>.`);
    let doc: unknown;
    try {
      doc = parse(source, { maxAliasCount: 1000 });
    } catch (e) {
      throw badRequest(`Orb source is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc))
      throw badRequest('Orb source must be a YAML map (commands, jobs, executors, …).');
    const ok = await this.store.publishOrb({
      namespace: r.namespace,
      name: r.name,
      version: r.version,
      source,
      published_by: actor,
      created_at: new Date().toISOString(),
    });
    if (!ok)
      throw new RoundhouseError(
        'RH_CONFLICT',
        `${r.namespace}/${r.name}@${r.version} is already published; published versions never change.`,
      );
  }

  async list() {
    const byOrb = new Map<string, string[]>();
    for (const v of await this.store.orbVersions())
      byOrb.set(`${v.namespace}/${v.name}`, [...(byOrb.get(`${v.namespace}/${v.name}`) ?? []), v.version]);
    return [...byOrb.entries()].map(([name, versions]) => ({
      name,
      versions: sortVersions(versions),
      latest: sortVersions(versions).at(-1),
    }));
  }
}

const sortVersions = (vs: string[]) =>
  [...vs].sort((a, b) => {
    const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
