import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OrbSource } from '../config/types.js';
import { packOrb } from './pack.js';
import { matchVersion, parseOrbRef } from './versions.js';

export interface BundleEntry {
  readonly orb: string;
  readonly version: string;
  readonly layout: 'src' | 'packed';
  readonly dir: string;
}

/**
 * An offline orb bundle: `INDEX.tsv` (orb, version, layout, …) and, per version, either a source
 * tree `<ns>/<orb>/<version>/src` or a packed `<ns>/<orb>/<version>/orb.yml`.
 */
export function readBundle(dir: string): BundleEntry[] {
  const index = join(dir, 'INDEX.tsv');
  if (!existsSync(index))
    throw new Error(`${dir}: no INDEX.tsv (an orb bundle lists orb, version and layout per line)`);
  const [header, ...lines] = readFileSync(index, 'utf8').split('\n').filter(Boolean);
  const cols = header.split('\t');
  const at = (name: string) => cols.indexOf(name);
  return lines.map((line) => {
    const f = line.split('\t');
    const orb = f[at('orb')];
    const version = f[at('version')];
    const layout = f[at('layout')] === 'packed' ? 'packed' : 'src';
    return { orb, version, layout, dir: join(dir, orb, version) } as const;
  });
}

export function packEntry(e: BundleEntry): string {
  return e.layout === 'packed' ? readFileSync(join(e.dir, 'orb.yml'), 'utf8') : packOrb(join(e.dir, 'src'));
}

/** Resolves orb references from an offline bundle directory (`--orbs <dir>`). */
export class BundleOrbSource implements OrbSource {
  readonly #entries: BundleEntry[];
  readonly #packed = new Map<string, string>();
  constructor(dir: string) {
    this.#entries = readBundle(dir);
  }

  async resolve(ref: string) {
    const r = parseOrbRef(ref);
    if (!r) return undefined;
    const candidates = this.#entries.filter((e) => e.orb === `${r.namespace}/${r.name}`);
    const version = matchVersion(
      candidates.map((e) => e.version),
      r.version,
    );
    const entry = candidates.find((e) => e.version === version);
    if (!entry) return undefined;
    const key = `${entry.orb}@${entry.version}`;
    let yaml = this.#packed.get(key);
    if (yaml === undefined) {
      yaml = packEntry(entry);
      this.#packed.set(key, yaml);
    }
    return { ref: key, yaml };
  }
}
