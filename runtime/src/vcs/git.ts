import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { RoundhouseError } from '../shared/errors.js';
import { isHttpUrl, isSshUrl, tokenGitEnv } from '../shared/urls.js';

const exec = promisify(execFile);

export const isUrl = (repo: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/\s]+@[^:\s]+:/.test(repo);

/** Normalises a repository given as a path into an absolute path; URLs stay as they are. */
export const normaliseRepo = (repo: string) => (isUrl(repo) ? repo : isAbsolute(repo) ? repo : resolve(repo));

async function git(args: string[], cwd?: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await exec('git', args, {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...env },
  });
  return stdout;
}

/**
 * The ssh command git uses with a deploy key: only that key, no prompts, and host keys learnt on first
 * use into `knownHosts` (CircleCI pins the hosts it knows; a self-hosted VCS is first seen here).
 */
export const sshCommand = (keyFile: string, knownHosts: string) =>
  `ssh -i '${keyFile}' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='${knownHosts}'`;

export interface Revision {
  readonly revision: string;
  readonly subject: string;
  readonly body: string;
}

/**
 * Reads a project's repository on the server side: for a local path directly, for a URL through a
 * bare mirror kept under the data dir and fetched before each read.
 */
export class Repository {
  readonly #gitDir: string;
  readonly #remote: boolean;
  #fetched: Promise<void> | undefined;

  constructor(
    readonly url: string,
    mirrorDir: string,
    /** The project's deploy key (private, decrypted) for SSH URLs; read at each fetch. */
    readonly sshKey?: () => Promise<string | undefined>,
    /** The project's checkout token for HTTPS URLs; read at each fetch. */
    readonly token?: () => Promise<string | undefined>,
  ) {
    this.#remote = isUrl(url);
    this.#gitDir = this.#remote ? mirrorDir : url;
  }

  /** Runs a fetching git command, with the deploy key for SSH URLs (written for the call, then removed). */
  async #fetching(args: string[]) {
    const token = isHttpUrl(this.url) ? await this.token?.() : undefined;
    if (token) return git(args, undefined, tokenGitEnv(token));
    const key = isSshUrl(this.url) ? await this.sshKey?.() : undefined;
    if (!key) return git(args);
    const keyFile = `${this.#gitDir}.key`;
    mkdirSync(dirname(keyFile), { recursive: true });
    writeFileSync(keyFile, key.endsWith('\n') ? key : `${key}\n`, { mode: 0o600 });
    try {
      return await git(args, undefined, {
        GIT_SSH_COMMAND: sshCommand(keyFile, join(dirname(this.#gitDir), 'known_hosts')),
      });
    } finally {
      rmSync(keyFile, { force: true });
    }
  }

  /** Fetches a remote into the mirror (once per call site; concurrent callers share one fetch). */
  async refresh(): Promise<void> {
    if (!this.#remote) return;
    this.#fetched ??= (async () => {
      try {
        if (!existsSync(this.#gitDir)) {
          mkdirSync(dirname(this.#gitDir), { recursive: true });
          await this.#fetching(['clone', '--quiet', '--mirror', this.url, this.#gitDir]);
        } else await this.#fetching(['--git-dir', this.#gitDir, 'remote', 'update', '--prune']);
      } finally {
        this.#fetched = undefined;
      }
    })();
    return this.#fetched;
  }

  #git(args: string[]) {
    return this.#remote ? git(['--git-dir', this.#gitDir, ...args]) : git(['-C', this.#gitDir, ...args]);
  }

  /** Checks the repository can be read; returns its default branch. */
  async probe(): Promise<string> {
    try {
      await this.refresh();
      await this.#git(['rev-parse', '--git-dir']);
      const head = (await this.#git(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => 'main\n')).trim();
      return head || 'main';
    } catch (e) {
      throw new RoundhouseError('RH_REPO_UNREADABLE', this.url, firstLine(e));
    }
  }

  async resolve(ref: { branch?: string; tag?: string }): Promise<Revision> {
    try {
      await this.refresh();
    } catch (e) {
      throw new RoundhouseError('RH_REPO_UNREADABLE', this.url, firstLine(e));
    }
    // A pull request's branch is `pull/<n>` (CircleCI's CIRCLE_BRANCH); GitHub keeps it as refs/pull/<n>/head.
    const pr = ref.tag === undefined ? /^pull\/(\d+)$/.exec(ref.branch ?? '') : null;
    const full =
      ref.tag !== undefined ? `refs/tags/${ref.tag}` : pr ? `refs/pull/${pr[1]}/head` : `refs/heads/${ref.branch}`;
    let revision = ref.tag === undefined ? await this.#readBranch(full) : undefined;
    if (!revision) {
      try {
        revision = (await this.#git(['rev-parse', '--verify', '--quiet', `${full}^{commit}`])).trim();
      } catch {
        throw new RoundhouseError('RH_REF_NOT_FOUND', ref.tag ?? ref.branch ?? '', this.url);
      }
    }
    const commit = await this.#cached(`log:${revision}`, () => this.#git(['log', '-1', '--format=%s%x00%b', revision]));
    const [subject, body = ''] = (commit ?? '').split('\0');
    return { revision, subject: subject.trim(), body: body.trim() };
  }

  /** A file at a revision, or undefined when it does not exist there. */
  readFile(revision: string, path: string): Promise<string | undefined> {
    return this.#cached(`show:${revision}:${path}`, () => this.#git(['show', `${revision}:${path}`]));
  }

  /**
   * What a revision holds never changes: commit text and files are cached by revision (a bounded
   * map), and concurrent readers of the same thing share one git process.
   */
  readonly #cache = new Map<string, Promise<string | undefined>>();
  #cached(key: string, read: () => Promise<string>): Promise<string | undefined> {
    let p = this.#cache.get(key);
    if (!p) {
      p = read().catch(() => undefined);
      this.#cache.set(key, p);
      // A failed read is not remembered: it may have been transient.
      void p.then((v) => v === undefined && this.#cache.delete(key));
      if (this.#cache.size > 500) this.#cache.delete(this.#cache.keys().next().value!);
    }
    return p;
  }

  /**
   * A branch's commit read straight from the ref store (loose ref file, then packed-refs), without
   * starting a process; undefined when it is not there in a form we read, and git decides.
   */
  #absoluteGitDir: Promise<string | undefined> | undefined;
  async #readBranch(full: string): Promise<string | undefined> {
    this.#absoluteGitDir ??= this.#git(['rev-parse', '--absolute-git-dir']).then(
      (d) => d.trim(),
      () => undefined,
    );
    const gitDir = await this.#absoluteGitDir;
    if (!gitDir || full.includes('..')) return undefined;
    const sha = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;
    try {
      const loose = (await readFile(join(gitDir, full), 'utf8')).trim();
      return sha.test(loose) ? loose : undefined;
    } catch {
      // not a loose ref: look in packed-refs
    }
    try {
      for (const line of (await readFile(join(gitDir, 'packed-refs'), 'utf8')).split('\n')) {
        const [id, name] = line.split(' ');
        if (name === full && sha.test(id)) return id;
      }
    } catch {
      // no packed refs
    }
    return undefined;
  }
}

function firstLine(e: unknown): string {
  const err = e as { stderr?: string; message?: string };
  return (err.stderr || err.message || String(e)).trim().split('\n').pop() ?? '';
}
