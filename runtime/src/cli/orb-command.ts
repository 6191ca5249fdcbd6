import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { packEntry, readBundle } from '../orbs/bundle.js';
import { PackError, packOrb } from '../orbs/pack.js';
import { type ApiClient, CliError } from './client.js';

/** Packs a source tree, or reads an already packed orb file. */
function sourceOf(path: string): string {
  if (!existsSync(path)) throw new CliError(`${path}: no such file or directory`);
  try {
    if (statSync(path).isDirectory())
      return packOrb(existsSync(resolve(path, '@orb.yml')) ? path : resolve(path, 'src'));
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof PackError) throw new CliError(e.message);
    throw e;
  }
}

const print = (v: unknown) => process.stdout.write(typeof v === 'string' ? v : `${JSON.stringify(v, null, 2)}\n`);

/** `roundhouse orb pack|publish|import|list|info`. */
export async function orbCommand(
  sub: string | undefined,
  args: string[],
  opts: { from?: string; registry?: string },
  client: () => ApiClient,
): Promise<number> {
  switch (sub) {
    case 'pack': {
      if (!args[0]) throw new CliError('usage: roundhouse orb pack <src-dir>');
      print(sourceOf(args[0]));
      return 0;
    }
    case 'publish': {
      const [path, ref] = args;
      if (!path || !ref) throw new CliError('usage: roundhouse orb publish <file-or-dir> <namespace>/<orb>@<version>');
      print(await client().request('POST', '/api/admin/orbs', { ref, source: sourceOf(path) }));
      return 0;
    }
    case 'import': {
      if (!opts.from && args[0]) return importOnline(args[0], opts.registry ?? PUBLIC_REGISTRY, client());
      if (!opts.from)
        throw new CliError(
          'usage: roundhouse orb import --from <bundle dir> | roundhouse orb import <ns>/<orb>[@<version>] [--registry <graphql url>]',
        );
      let entries: ReturnType<typeof readBundle>;
      try {
        entries = readBundle(resolve(opts.from));
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      const api = client();
      let imported = 0;
      for (const e of entries) {
        const ref = `${e.orb}@${e.version}`;
        try {
          await api.request('POST', '/api/admin/orbs', { ref, source: packEntry(e) });
          process.stdout.write(`imported ${ref}\n`);
          imported++;
        } catch (err) {
          if (/HTTP 409/.test((err as Error).message)) process.stdout.write(`already published ${ref}\n`);
          else throw err;
        }
      }
      process.stdout.write(`${imported} orb version(s) imported, ${entries.length - imported} already there\n`);
      return 0;
    }
    case 'list':
      print(await client().request('GET', '/api/orbs'));
      return 0;
    case 'info': {
      const ref = args[0];
      const m = ref ? /^([^/@]+)\/([^/@]+)(?:@(.+))?$/.exec(ref) : null;
      if (!m) throw new CliError('usage: roundhouse orb info <namespace>/<orb>[@<version>]');
      const api = client();
      const info = await api.request('GET', `/api/orbs/${m[1]}/${m[2]}`);
      if (m[3]) {
        const v = await api.request<{ ref: string; yaml: string }>(
          'GET',
          `/api/orbs/${m[1]}/${m[2]}/${encodeURIComponent(m[3])}`,
        );
        print({ ...info, resolved: v.ref, source: v.yaml });
      } else print(info);
      return 0;
    }
    default:
      throw new CliError('usage: roundhouse orb pack|publish|import|list|info …');
  }
}

/** CircleCI's public orb registry (GraphQL), as the operations guide's `import-orb` uses it. */
export const PUBLIC_REGISTRY = 'https://circleci.com/graphql-unstable';

/**
 * Copies one orb version from a public registry into this server's registry: `ns/orb@version`
 * (exact, x.y, x or volatile; no version = volatile), published under the version the registry resolved.
 */
async function importOnline(ref: string, registry: string, api: ApiClient): Promise<number> {
  const m = /^([a-z0-9][a-z0-9_-]*)\/([a-z0-9][a-z0-9_-]*)(?:@(.+))?$/i.exec(ref);
  if (!m)
    throw new CliError(`"${ref}" must be <namespace>/<orb>[@<version>] (whole namespaces are imported orb by orb)`);
  const versionRef = `${m[1]}/${m[2]}@${m[3] ?? 'volatile'}`;
  let res: Response;
  try {
    res = await fetch(registry, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'query($orbVersionRef: String!) { orbVersion(orbVersionRef: $orbVersionRef) { version source } }',
        variables: { orbVersionRef: versionRef },
      }),
    });
  } catch (e) {
    throw new CliError(
      `cannot reach the orb registry ${registry}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message} (on an air-gapped server use --from <bundle dir>)`,
    );
  }
  const body = (await res.json().catch(() => ({}))) as {
    data?: { orbVersion?: { version: string; source: string } | null };
    errors?: { message: string }[];
  };
  if (!res.ok || body.errors?.length)
    throw new CliError(
      `the orb registry answered HTTP ${res.status}: ${body.errors?.map((e) => e.message).join('; ') ?? ''}`,
    );
  const found = body.data?.orbVersion;
  if (!found?.source) throw new CliError(`${versionRef} is not in the orb registry ${registry}`);
  const published = `${m[1]}/${m[2]}@${found.version}`;
  try {
    await api.request('POST', '/api/admin/orbs', { ref: published, source: found.source });
    process.stdout.write(`imported ${published}\n`);
  } catch (e) {
    if (!/HTTP 409/.test((e as Error).message)) throw e;
    process.stdout.write(`already published ${published}\n`);
  }
  return 0;
}
