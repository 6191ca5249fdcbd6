import { startServer } from '../server.js';
import { RoundhouseError } from '../shared/errors.js';
import { loadSettings } from '../shared/settings.js';

/** `roundhouse server`: settings from the environment, all roles, graceful stop on SIGTERM/SIGINT. */
export async function runServer(): Promise<number> {
  const started = performance.now();
  let settings: ReturnType<typeof loadSettings>;
  try {
    settings = loadSettings();
  } catch (e) {
    if (e instanceof RoundhouseError) {
      process.stderr.write(`roundhouse: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
  const server = await startServer(settings, log);
  const ms = Math.round(performance.now() - started);
  const lines = [
    `Roundhouse is running at ${server.url}  (ready in ${ms} ms)`,
    `  data:     ${settings.dataDir} (${settings.databaseUrl ? 'PostgreSQL' : 'SQLite'})`,
    `  executor: ${settings.executorSlots} local slot(s), ${server.sandbox === 'bwrap' ? 'bubblewrap sandbox' : 'NOT SANDBOXED (plain processes: bubblewrap unavailable or ROUNDHOUSE_SANDBOX=none)'}`,
    `  admin token: ${server.adminToken}`,
    `  open ${server.url}/?token=${server.adminToken} to log in`,
  ];
  if (server.demoPipelineId) lines.push(`  demo pipeline started: ${server.url}/pipelines/gh/roundhouse/demo/1`);
  process.stdout.write(`${lines.join('\n')}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: draining running jobs (up to ${settings.drainSeconds}s), then requeueing the rest`);
    server.close().then(
      () => process.exit(0),
      (e) => {
        log(`shutdown failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return new Promise<number>(() => undefined);
}
