import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Wraps and unwraps data keys: a local key file in embedded mode; AWS KMS or GCP KMS in production. */
export interface KeyProvider {
  readonly id: string;
  wrap(dataKey: Buffer): Promise<string>;
  unwrap(wrapped: string): Promise<Buffer>;
}

function seal(key: Buffer, plain: Buffer): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return [iv, c.getAuthTag(), body].map((b) => b.toString('base64')).join('.');
}

function open(key: Buffer, sealed: string): Buffer {
  const [iv, tag, body] = sealed.split('.').map((s) => Buffer.from(s, 'base64'));
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(body), d.final()]);
}

/**
 * 256-bit keys kept in a file (created once, mode 0600): one `<key id> <base64 key>` per line, the
 * last one current. (A file holding only a base64 key is key `k0`.) Wrapped data keys name the key
 * that wrapped them, so `rotate()` can add a key while every running server still unwraps with the
 * old ones; a key id this process has not seen yet makes it read the file again.
 */
export class LocalKeyProvider implements KeyProvider {
  readonly id = 'local';
  #keys = new Map<string, Buffer>();
  #current = '';
  constructor(readonly file: string) {
    if (!existsSync(file)) writeFileSync(file, `k1 ${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    this.#load();
  }
  #load() {
    const lines = readFileSync(this.file, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const keys = new Map<string, Buffer>();
    for (const line of lines) {
      const [kid, b64] = line.includes(' ') ? line.split(/\s+/) : ['k0', line];
      const key = Buffer.from(b64, 'base64');
      if (key.length !== 32) throw new Error(`${this.file} does not hold 256-bit keys`);
      keys.set(kid, key);
      this.#current = kid;
    }
    if (!keys.size) throw new Error(`${this.file} holds no key`);
    this.#keys = keys;
  }
  get currentKeyId() {
    return this.#current;
  }
  async wrap(dataKey: Buffer) {
    const sealed = seal(this.#keys.get(this.#current)!, dataKey);
    return this.#current === 'k0' ? sealed : `${this.#current}:${sealed}`;
  }
  async unwrap(wrapped: string) {
    const i = wrapped.indexOf(':');
    const kid = i < 0 ? 'k0' : wrapped.slice(0, i);
    if (!this.#keys.has(kid)) this.#load();
    const key = this.#keys.get(kid);
    if (!key) throw new Error(`data key was wrapped by key ${kid}, which ${this.file} does not hold`);
    return open(key, i < 0 ? wrapped : wrapped.slice(i + 1));
  }
  /** Adds a new key and makes it current (old keys stay, to unwrap what they wrapped). */
  rotate(): string {
    const n = Math.max(0, ...[...this.#keys.keys()].map((k) => Number(k.slice(1)) || 0)) + 1;
    const lines = [...this.#keys].map(([k, v]) => `${k} ${v.toString('base64')}`);
    lines.push(`k${n} ${randomBytes(32).toString('base64')}`);
    writeFileSync(this.file, `${lines.join('\n')}\n`, { mode: 0o600 });
    this.#load();
    return this.#current;
  }
}

/** AES-256-GCM envelope encryption: each value has its own data key, wrapped by the key provider. */
export class Envelope {
  constructor(readonly keys: KeyProvider) {}

  async encrypt(value: string): Promise<string> {
    const dataKey = randomBytes(32);
    return JSON.stringify({
      v: 1,
      kp: this.keys.id,
      dk: await this.keys.wrap(dataKey),
      ct: seal(dataKey, Buffer.from(value, 'utf8')),
    });
  }

  async decrypt(stored: string): Promise<string> {
    const e = JSON.parse(stored) as { dk: string; ct: string };
    return open(await this.keys.unwrap(e.dk), e.ct).toString('utf8');
  }

  /** The same value with its data key wrapped again by the provider's current key (the value is not re-encrypted). */
  async rewrap(stored: string): Promise<string> {
    const e = JSON.parse(stored) as { v: number; kp: string; dk: string; ct: string };
    const dataKey = await this.keys.unwrap(e.dk);
    return JSON.stringify({ ...e, kp: this.keys.id, dk: await this.keys.wrap(dataKey) });
  }
}

/**
 * Wraps every stored secret's data key again with the current key: no value is decrypted to text,
 * and a value written meanwhile (already under the current key) is left alone. Servers keep
 * running: they unwrap both old and new wrappings.
 */
export async function rewrapAll(
  envelope: Envelope,
  secrets: {
    allEncrypted(): Promise<{ table: string; where: string; params: string[]; column: string; value: string }[]>;
    replaceEncrypted(
      e: { table: string; where: string; params: string[]; column: string; value: string },
      next: string,
    ): Promise<boolean>;
  },
): Promise<number> {
  let n = 0;
  for (const e of await secrets.allEncrypted()) {
    if (await secrets.replaceEncrypted(e, await envelope.rewrap(e.value))) n++;
  }
  return n;
}

/** How CircleCI shows a secret's value back: never the value, only its last four characters. */
export const maskValue = (v: string) => `xxxx${v.length >= 4 ? v.slice(-4) : ''}`;
