import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parse, stringify } from 'yaml';

const INCLUDE = /^<<\s*include\(([^)]+)\)\s*>>$/;
const SECTIONS = ['commands', 'jobs', 'executors', 'examples'] as const;

export class PackError extends Error {}

/**
 * Packs an orb source tree (`@orb.yml` plus commands/, jobs/, executors/, examples/, one element
 * per YAML file) into one orb YAML, replacing every `<<include(file)>>` value with the file's text,
 * as `circleci orb pack` does. Include paths are relative to the source root and may not leave it.
 */
export function packOrb(srcDir: string): string {
  const root = resolve(srcDir);
  const orbFile = join(root, '@orb.yml');
  if (!existsSync(orbFile))
    throw new PackError(
      `${srcDir}: no @orb.yml (an orb source has @orb.yml and commands/, jobs/, executors/, examples/)`,
    );
  const load = (file: string) => {
    try {
      return parse(readFileSync(file, 'utf8'), { maxAliasCount: 1000 }) ?? {};
    } catch (e) {
      throw new PackError(`${relative(root, file)}: ${(e as Error).message.split('\n')[0]}`);
    }
  };
  const orb = load(orbFile) as Record<string, unknown>;
  for (const section of SECTIONS) {
    const dir = join(root, section);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    const elements: Record<string, unknown> = { ...((orb[section] as Record<string, unknown>) ?? {}) };
    for (const f of readdirSync(dir).sort()) {
      if (!/\.ya?ml$/.test(f)) continue;
      elements[f.replace(/\.ya?ml$/, '')] = load(join(dir, f));
    }
    orb[section] = elements;
  }
  return stringify(includeFiles(orb, root), { lineWidth: 0 });
}

function includeFiles(v: unknown, root: string): unknown {
  if (typeof v === 'string') {
    const m = INCLUDE.exec(v.trim());
    if (!m) return v;
    const file = resolve(root, m[1].trim());
    if (relative(root, file).startsWith('..'))
      throw new PackError(`<<include(${m[1]})>> points outside the orb source`);
    if (!existsSync(file)) throw new PackError(`<<include(${m[1]})>>: no such file`);
    return readFileSync(file, 'utf8');
  }
  if (Array.isArray(v)) return v.map((x) => includeFiles(x, root));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, includeFiles(x, root)]));
  return v;
}
