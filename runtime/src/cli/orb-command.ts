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
  opts: { from?: string },
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
      if (!opts.from) {
        throw new CliError(
          args[0]
            ? `importing ${args[0]} from a public orb registry needs network access to it; on an air-gapped server use --from <bundle dir> (the layout of an orb bundle: INDEX.tsv plus <ns>/<orb>/<version>/src or orb.yml)`
            : 'usage: roundhouse orb import --from <bundle dir>',
        );
      }
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
