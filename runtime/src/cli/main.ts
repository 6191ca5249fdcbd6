import { parseArgs } from 'node:util';
import { RoundhouseError } from '../shared/errors.js';
import { ApiClient, CliError } from './client.js';

const USAGE = `Roundhouse: a self-hosted CI/CD platform that runs CircleCI pipelines.

Usage:
  roundhouse server                                   run every role in one process (embedded mode)
  roundhouse project add <vcs>/<org>/<repo> --repo <git url or path> [--default-branch B] [--checkout-token T]
  roundhouse project list
  roundhouse pipeline trigger <vcs>/<org>/<repo> [--branch B | --tag T] [--parameters JSON]
  roundhouse config validate [file]                   check a config as the server compiles it
  roundhouse config process [file] [--pipeline-parameters JSON] [--branch B | --tag T]
                                                      print the compiled (version 2) config
      orbs resolve from --orbs <bundle dir>, else from the server named by --host/--token;
      --schema <file> also checks against a JSON schema (e.g. CircleCI's published one)
  roundhouse orb pack <src-dir>                       print the packed orb (with <<include(file)>> resolved)
  roundhouse orb publish <file-or-dir> <ns>/<orb>@<version>   (admin token; versions are immutable)
  roundhouse orb import --from <bundle dir>           publish every orb of an offline bundle (admin token)
  roundhouse orb import <ns>/<orb>[@<version>] [--registry <url>]   copy one from a public registry
  roundhouse orb list | roundhouse orb info <ns>/<orb>[@<version>]
  roundhouse admin users list|add|suspend|activate|delete [<login>]   (admin token)
  roundhouse admin settings [--suspend-new-users true|false] [--required-orgs org1,org2]
  roundhouse admin audit-log [--from T] [--to T]      the audit log as CSV on stdout (ISO-8601 times)
  roundhouse secrets rotate-key                       new key, every data key re-wrapped (run where
                                                      the server runs, with its settings)

Commands that talk to a server take --host (default $ROUNDHOUSE_HOST, else http://127.0.0.1:3000)
and --token (default $ROUNDHOUSE_TOKEN), as the CircleCI CLI does.

Server settings come from the environment; see README.md ("Settings").`;

const CLIENT_OPTIONS = {
  host: { type: 'string' },
  token: { type: 'string' },
  repo: { type: 'string' },
  'default-branch': { type: 'string' },
  'checkout-token': { type: 'string' },
  branch: { type: 'string' },
  tag: { type: 'string' },
  parameters: { type: 'string' },
  orbs: { type: 'string' },
  schema: { type: 'string' },
  from: { type: 'string' },
  registry: { type: 'string' },
  'pipeline-parameters': { type: 'string' },
  to: { type: 'string' },
  'suspend-new-users': { type: 'string' },
  'required-orgs': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function client(values: { host?: string; token?: string }): ApiClient {
  const host = values.host ?? process.env.ROUNDHOUSE_HOST ?? 'http://127.0.0.1:3000';
  const token = values.token ?? process.env.ROUNDHOUSE_TOKEN;
  if (!token)
    throw new CliError(
      'no API token: pass --token or set ROUNDHOUSE_TOKEN (the server prints the admin token at first start)',
    );
  return new ApiClient(host, token);
}

const print = (v: unknown) => process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

export async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  if (command === 'server') {
    const { runServer } = await import('./server-command.js');
    return runServer();
  }
  if (command === 'secrets') {
    const { secretsCommand } = await import('./secrets-command.js');
    return secretsCommand(sub);
  }
  const { values, positionals } = parseArgs({
    args: rest,
    options: CLIENT_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  if (command === 'config' && (sub === 'validate' || sub === 'process')) {
    const { configCommand } = await import('./config-command.js');
    return configCommand(sub, positionals[0], values);
  }
  if (command === 'admin') {
    const { adminCommand } = await import('./admin-command.js');
    return adminCommand(sub, positionals, values, () => client(values));
  }
  if (command === 'orb') {
    const { orbCommand } = await import('./orb-command.js');
    return orbCommand(sub, positionals, values, () => client(values));
  }
  if (command === 'project' && sub === 'add') {
    const [slug] = positionals;
    if (!slug || !values.repo)
      throw new CliError('usage: roundhouse project add <vcs>/<org>/<repo> --repo <git url or path>');
    const { resolve } = await import('node:path');
    const { normaliseRepo } = await import('../vcs/git.js');
    // A relative path means relative to where the CLI runs, not to the server.
    const repo = normaliseRepo(values.repo.startsWith('.') ? resolve(values.repo) : values.repo);
    print(
      await client(values).request('POST', '/api/admin/projects', {
        slug,
        repo,
        ...(values['default-branch'] ? { default_branch: values['default-branch'] } : {}),
        ...(values['checkout-token'] ? { checkout_token: values['checkout-token'] } : {}),
      }),
    );
    return 0;
  }
  if (command === 'project' && sub === 'list') {
    print(await client(values).request('GET', '/api/admin/projects'));
    return 0;
  }
  if (command === 'pipeline' && sub === 'trigger') {
    const [slug] = positionals;
    if (!slug) throw new CliError('usage: roundhouse pipeline trigger <vcs>/<org>/<repo> [--branch B | --tag T]');
    let parameters: unknown;
    if (values.parameters) {
      try {
        parameters = JSON.parse(values.parameters);
      } catch {
        throw new CliError('--parameters must be a JSON object');
      }
    }
    print(
      await client(values).request('POST', `/api/v2/project/${slug}/pipeline`, {
        branch: values.branch,
        tag: values.tag,
        parameters,
      }),
    );
    return 0;
  }
  throw new CliError(`unknown command: ${[command, sub].filter(Boolean).join(' ')}\n\n${USAGE}`);
}

export async function run(argv: string[]) {
  try {
    process.exitCode = await main(argv);
  } catch (e) {
    if (
      e instanceof CliError ||
      e instanceof RoundhouseError ||
      (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`roundhouse: ${(e as Error).message}\n`);
      process.exitCode = 2;
    } else throw e;
  }
}
