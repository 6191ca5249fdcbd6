import { createPrivateKey, randomBytes } from 'node:crypto';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const str = (b: Buffer | string) => {
  const buf = typeof b === 'string' ? Buffer.from(b) : b;
  return Buffer.concat([u32(buf.length), buf]);
};

/**
 * An Ed25519 private key (any format node reads, e.g. PKCS#8 PEM) in OpenSSH's own private key format,
 * the only one OpenSSH reads for Ed25519. Unencrypted; `comment` is stored inside.
 */
export function ed25519ToOpenSsh(privateKey: string, comment = ''): string {
  const jwk = createPrivateKey(privateKey).export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.d || !jwk.x) throw new Error('not an Ed25519 private key');
  const seed = Buffer.from(jwk.d, 'base64url');
  const pub = Buffer.from(jwk.x, 'base64url');
  const publicBlob = Buffer.concat([str('ssh-ed25519'), str(pub)]);
  const check = randomBytes(4);
  let secret = Buffer.concat([
    check,
    check,
    str('ssh-ed25519'),
    str(pub),
    str(Buffer.concat([seed, pub])),
    str(comment),
  ]);
  const pad = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    str('none'),
    str('none'),
    str(''),
    u32(1),
    str(publicBlob),
    str(secret),
  ]).toString('base64');
  const lines = body.match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** A private key as OpenSSH reads it: PKCS#8 Ed25519 keys are converted, anything else is left alone. */
export function forOpenSsh(privateKey: string): string {
  if (!privateKey.includes('BEGIN PRIVATE KEY')) return privateKey;
  try {
    return ed25519ToOpenSsh(privateKey);
  } catch {
    return privateKey;
  }
}
