import { execFileSync, execSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = '/usr/lib/postgresql/15/bin';

export interface PgCluster {
  readonly url: string;
  stop(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresUnavailable(): string | undefined {
  if (!existsSync(join(BIN, 'initdb'))) return `PostgreSQL 15 is not installed (${BIN}/initdb missing)`;
  if (process.getuid?.() !== 0) return 'the private PostgreSQL cluster is started as root via su postgres';
  return undefined;
}

/** A private, throw-away PostgreSQL 15 cluster (initdb + pg_ctl, under a second). */
export async function startPostgres(): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'rh-pg-'));
  chownSync(
    dir,
    Number(execSync('id -u postgres').toString().trim()),
    Number(execSync('id -g postgres').toString().trim()),
  );
  const port = await freePort();
  const su = (cmd: string) => execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', cmd], { stdio: 'pipe' });
  su(`${BIN}/initdb -D ${dir}/data -A trust -U postgres --no-sync -E UTF8 >/dev/null`);
  su(
    `${BIN}/pg_ctl -D ${dir}/data -l ${dir}/log -o '-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off' -w start >/dev/null`,
  );
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        su(`${BIN}/pg_ctl -D ${dir}/data -m immediate stop >/dev/null`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
