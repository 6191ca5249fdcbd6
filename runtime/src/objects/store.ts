import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly modified: number;
}

/**
 * Object storage as the platform uses it: whole objects put and got by key, listed by prefix.
 * The embedded default is a folder; S3 and GCS implement the same interface.
 */
export interface ObjectStore {
  /** Stores an object; with `ifAbsent`, an existing object is kept and false returned. */
  put(key: string, body: Readable, opts?: { ifAbsent?: boolean }): Promise<boolean>;
  get(key: string): Promise<Readable | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(key: string): Promise<void>;
  /** Where an object lies on this machine's filesystem, for stores that keep objects as files. */
  localPath?(key: string): Promise<string | undefined>;
}

/**
 * Deletes objects older than `days` (0 keeps everything): the operations guide's "storage object
 * expiry". Returns how many were deleted. (On S3 a bucket lifecycle rule does the same.)
 */
export async function expireObjects(store: ObjectStore, days: number, now = Date.now()): Promise<number> {
  if (days <= 0) return 0;
  const cutoff = now - days * 86400000;
  let n = 0;
  for (const prefix of ['artifacts/', 'caches/', 'workspaces/', 'tests/']) {
    for (const o of await store.list(prefix)) {
      if (o.modified < cutoff) {
        await store.delete(o.key);
        n++;
      }
    }
  }
  return n;
}

const SAFE_KEY = /^[\w.@%+=-]+(\/[\w.@%+=-]+)*$/;

/** Objects as files under a folder; writes land under a temporary name and are renamed into place. */
export class FsObjectStore implements ObjectStore {
  constructor(readonly root: string) {}

  #path(key: string): string {
    if (!SAFE_KEY.test(key) || key.split('/').some((s) => s === '..' || s === '.'))
      throw new Error(`invalid object key ${JSON.stringify(key)}`);
    const p = resolve(this.root, key);
    if (!p.startsWith(resolve(this.root) + sep)) throw new Error(`invalid object key ${JSON.stringify(key)}`);
    return p;
  }

  async put(key: string, body: Readable, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const path = this.#path(key);
    if (opts.ifAbsent && (await this.head(key))) {
      body.resume();
      return false;
    }
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.${Date.now()}.part`;
    try {
      await pipeline(body, createWriteStream(tmp));
      if (opts.ifAbsent && (await this.head(key))) return false;
      await rename(tmp, path);
      return true;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async get(key: string): Promise<Readable | undefined> {
    const path = this.#path(key);
    return (await this.head(key)) ? createReadStream(path, { highWaterMark: 1 << 20 }) : undefined;
  }

  async localPath(key: string): Promise<string | undefined> {
    return (await this.head(key)) ? this.#path(key) : undefined;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.#path(key));
      return s.isFile() ? { key, size: s.size, modified: s.mtimeMs } : undefined;
    } catch {
      return undefined;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const base = resolve(this.root);
    const dir = prefix.includes('/') ? join(base, prefix.slice(0, prefix.lastIndexOf('/'))) : base;
    const out: ObjectInfo[] = [];
    const walk = async (d: string) => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (!e.name.endsWith('.part')) {
          const key = relative(base, p).split(sep).join('/');
          if (key.startsWith(prefix)) {
            const s = await stat(p);
            out.push({ key, size: s.size, modified: s.mtimeMs });
          }
        }
      }
    };
    await walk(dir);
    return out;
  }
}

/** Encodes any text (a cache key, a branch name) as one object-key segment; prefixes stay prefixes. */
export function encodeSegment(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.@+=-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
export const decodeSegment = (s: string) => decodeURIComponent(s);
