import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { compileConfig } from '../config/compile.js';
import { Source } from '../config/source.js';
import { type ConfigError, formatConfigError, type OrbSource } from '../config/types.js';
import { BundleOrbSource } from '../orbs/bundle.js';
import { ApiClient, CliError } from './client.js';

export interface ConfigOptions {
  readonly schema?: string;
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
  const schemaErrors = o.schema ? await schemaCheck(text, path, o.schema) : [];
  const errors = [...(r.ok ? [] : r.errors), ...schemaErrors].sort((a, b) => a.line - b.line || a.column - b.column);
  if (errors.length) {
    for (const e of errors) process.stderr.write(`${formatConfigError(e)}\n`);
    process.stderr.write(`Config file at ${path} is invalid: ${errors.length} error(s).\n`);
    return 1;
  }
  if (!r.ok) return 1;
  if (sub === 'process') process.stdout.write(r.compiled);
  else process.stdout.write(`Config file at ${path} is valid.\n`);
  return 0;
}

/**
 * `--schema <file>`: also checks the config against a JSON schema (e.g. CircleCI's published config
 * schema), reporting each violation at its line. The schema is stricter than the server in places
 * (it accepts only version 2.1, for one), so it is a lint the user asks for, not a gate.
 */
interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}
type AjvValidate = ((data: unknown) => boolean) & { errors?: AjvError[] | null };
type AjvClass = new (opts: object) => { compile(schema: unknown): AjvValidate };

async function schemaCheck(text: string, file: string, schemaFile: string): Promise<ConfigError[]> {
  if (!existsSync(schemaFile)) throw new CliError(`${schemaFile}: no such schema file`);
  // ajv is CommonJS: its class is the default export (or that export's own default).
  const mod = (await import('ajv')) as unknown as { default: AjvClass & { default?: AjvClass } };
  const Ajv = mod.default.default ?? mod.default;
  let validate: AjvValidate;
  try {
    validate = new Ajv({ strict: false, allErrors: true, logger: false }).compile(
      JSON.parse(readFileSync(schemaFile, 'utf8')),
    );
  } catch (e) {
    throw new CliError(`${schemaFile}: not a usable JSON schema: ${(e as Error).message}`);
  }
  const src = new Source(file, text);
  if (src.errors.length || validate(src.value)) return [];
  // One message per place.
  const seen = new Set<string>();
  const all = validate.errors ?? [];
  for (const e of all) {
    const deeper = all.some((x: AjvError) => x !== e && x.instancePath.startsWith(`${e.instancePath}/`));
    // Alternatives of a oneOf fail at their own level too: report only the deepest failures.
    if (seen.has(e.instancePath) || deeper) continue;
    seen.add(e.instancePath);
    const path = e.instancePath
      .split('/')
      .slice(1)
      .map((seg) => (/^\d+$/.test(seg) ? Number(seg) : seg.replace(/~1/g, '/').replace(/~0/g, '~')));
    const what =
      e.keyword === 'additionalProperties'
        ? `unknown key \`${(e.params as { additionalProperty: string }).additionalProperty}\``
        : e.message;
    src.error(path, 'RH_CONFIG_SCHEMA', `${e.instancePath || '/'} ${what} (schema ${schemaFile.split('/').pop()})`);
  }
  return src.errors;
}
