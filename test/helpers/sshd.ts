import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Sshd {
  readonly port: number;
  /** Lets a public key (one `authorized_keys` line) log in as root. */
  authorize(publicKey: string): void;
  close(): void;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/**
 * A real OpenSSH server on 127.0.0.1 for git-over-SSH tests: its own host key and authorized_keys,
 * key login only. Returns a reason string when sshd is not installed (or not root), to skip with.
 */
export async function startSshd(): Promise<Sshd | string> {
  if (!existsSync('/usr/sbin/sshd')) return 'openssh-server is not installed (apt-get install openssh-server)';
  if (process.getuid?.() !== 0) return 'sshd for tests needs root';
  const dir = mkdtempSync(join(tmpdir(), 'rh-sshd-'));
  mkdirSync('/run/sshd', { recursive: true });
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  const keys = join(dir, 'authorized_keys');
  writeFileSync(keys, '', { mode: 0o600 });
  const port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${keys}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(true));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
    if (ok) break;
    if (child.exitCode !== null) return 'sshd exited at start';
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    authorize(publicKey) {
      writeFileSync(keys, `${publicKey.trim()}\n`, { flag: 'a' });
    },
    close() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
