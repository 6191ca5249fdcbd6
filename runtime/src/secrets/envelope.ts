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

/** A 256-bit key kept in a file (created once, mode 0600). */
export class LocalKeyProvider implements KeyProvider {
  readonly id = 'local';
  readonly #key: Buffer;
  constructor(file: string) {
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
    this.#key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (this.#key.length !== 32) throw new Error(`${file} does not hold a 256-bit key`);
  }
  async wrap(dataKey: Buffer) {
    return seal(this.#key, dataKey);
  }
  async unwrap(wrapped: string) {
    return open(this.#key, wrapped);
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
}

/** How CircleCI shows a secret's value back: never the value, only its last four characters. */
export const maskValue = (v: string) => `xxxx${v.length >= 4 ? v.slice(-4) : ''}`;
