import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { compileConfig } from '../config/compile.js';
import { formatConfigError, type OrbSource } from '../config/types.js';
import { BundleOrbSource } from '../orbs/bundle.js';
import { ApiClient, CliError } from './client.js';

export interface ConfigOptions {
  readonly orbs?: string;
  readonly host?: string;
  readonly token?: string;
  readonly branch?: string;
  readonly tag?: string;
  readonly 'pipeline-parameters'?: string;
}

/** Orbs from an offline bundle (`--orbs`), else from a server's registry when one is named. */
export function orbSourceFor(o: ConfigOptions): OrbSource | undefined {
  if (o.orbs) {
    try {
      return new BundleOrbSource(resolve(o.orbs));
    } catch (e) {
      throw new CliError((e as Error).message);
    }
  }
  const host = o.host ?? process.env.ROUNDHOUSE_HOST;
  const token = o.token ?? process.env.ROUNDHOUSE_TOKEN;
  if (!host) return undefined;
  const api = new ApiClient(host, token);
  return {
    async resolve(ref) {
      const m = /^([^/]+)\/([^@]+)@(.+)$/.exec(ref);
      if (!m) return undefined;
      try {
        return await api.request('GET', `/api/orbs/${m[1]}/${m[2]}/${encodeURIComponent(m[3])}`);
      } catch (e) {
        if (/HTTP 404/.test((e as Error).message)) return undefined;
        throw e;
      }
    },
  };
}

function pipelineParameters(v: string | undefined): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  const text = existsSync(v) ? readFileSync(v, 'utf8') : v;
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new CliError('--pipeline-parameters must be a JSON or YAML map (or a file holding one)');
  return parsed as Record<string, unknown>;
}

/** `roundhouse config validate|process <file>`: compile as the server would, and say what is wrong. */
export async function configCommand(sub: string, file: string | undefined, o: ConfigOptions): Promise<number> {
  const path = file ?? '.circleci/config.yml';
  if (!existsSync(path)) throw new CliError(`${path}: no such file`);
  const text = readFileSync(path, 'utf8');
  const r = await compileConfig(
    text,
    {
      branch: o.tag ? undefined : (o.branch ?? 'main'),
      tag: o.tag,
      orbs: orbSourceFor(o),
      pipeline: { parameters: pipelineParameters(o['pipeline-parameters']) },
    },
    path,
  );
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${formatConfigError(e)}\n`);
    process.stderr.write(`Config file at ${path} is invalid: ${r.errors.length} error(s).\n`);
    return 1;
  }
  if (sub === 'process') process.stdout.write(r.compiled);
  else process.stdout.write(`Config file at ${path} is valid.\n`);
  return 0;
}
