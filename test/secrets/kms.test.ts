// Envelope encryption with each key provider, and key rotation. AWS KMS and GCP KMS cannot be
// reached from here: their SDK clients run against small local FAKES of the KMS HTTP APIs
// (AWS: the JSON protocol's Encrypt/Decrypt; GCP: the REST `:encrypt`/`:decrypt` of Cloud KMS v1).
import { execFile } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { Envelope, LocalKeyProvider, rewrapAll } from '../../runtime/src/secrets/envelope.js';
import { AwsKmsKeyProvider, GcpKmsKeyProvider } from '../../runtime/src/secrets/kms.js';
import { Store } from '../../runtime/src/store/store.js';
import { configRepo } from '../helpers/git.js';
import { startTestServer } from '../helpers/server.js';
import { BIN } from '../server/process.js';

const exec = promisify(execFile);
const read = (req: IncomingMessage) =>
  new Promise<string>((r) => {
    let s = '';
    req.on('data', (c) => {
      s += c;
    });
    req.on('end', () => r(s));
  });

/** A fake KMS keyring: AES-256-GCM per key id; a ciphertext carries its key id (as AWS's does). */
function fakeKeyring() {
  const keys = new Map<string, Buffer>();
  const keyOf = (id: string) => {
    if (!keys.has(id)) keys.set(id, randomBytes(32));
    return keys.get(id)!;
  };
  return {
    calls: [] as string[],
    encrypt(id: string, plain: Buffer) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', keyOf(id), iv);
      const body = Buffer.concat([c.update(plain), c.final()]);
      const idb = Buffer.from(id);
      return Buffer.concat([Buffer.from([idb.length]), idb, iv, c.getAuthTag(), body]);
    },
    decrypt(blob: Buffer) {
      const id = blob.subarray(1, 1 + blob[0]).toString();
      const rest = blob.subarray(1 + blob[0]);
      const d = createDecipheriv('aes-256-gcm', keyOf(id), rest.subarray(0, 12));
      d.setAuthTag(rest.subarray(12, 28));
      return { id, plain: Buffer.concat([d.update(rest.subarray(28)), d.final()]) };
    },
  };
}

async function listen(server: Server) {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return typeof a === 'object' && a ? a.port : 0;
}

/** FAKE AWS KMS: `POST /` with `X-Amz-Target: TrentService.Encrypt|Decrypt` (JSON 1.1 protocol). */
async function fakeAwsKms() {
  const ring = fakeKeyring();
  const server = createServer(async (req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const body = JSON.parse((await read(req)) || '{}');
    ring.calls.push(target);
    res.setHeader('content-type', 'application/x-amz-json-1.1');
    if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256')) {
      res.statusCode = 400;
      return res.end(JSON.stringify({ __type: 'MissingAuthenticationTokenException', message: 'unsigned' }));
    }
    if (target === 'TrentService.Encrypt') {
      const blob = ring.encrypt(body.KeyId, Buffer.from(body.Plaintext, 'base64'));
      return res.end(
        JSON.stringify({
          CiphertextBlob: blob.toString('base64'),
          KeyId: body.KeyId,
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        }),
      );
    }
    if (target === 'TrentService.Decrypt') {
      const { id, plain } = ring.decrypt(Buffer.from(body.CiphertextBlob, 'base64'));
      return res.end(
        JSON.stringify({ Plaintext: plain.toString('base64'), KeyId: id, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }),
      );
    }
    res.statusCode = 400;
    res.end(JSON.stringify({ __type: 'UnknownOperationException', message: target }));
  });
  return { ring, url: `http://127.0.0.1:${await listen(server)}`, close: () => new Promise((r) => server.close(r)) };
}

/** FAKE GCP Cloud KMS (REST): `POST /v1/{cryptoKey}:encrypt` and `:decrypt`. */
async function fakeGcpKms() {
  const ring = fakeKeyring();
  const server = createServer(async (req, res) => {
    const m = /^\/v1\/(projects\/[^:]+):(encrypt|decrypt)$/.exec((req.url ?? '').split('?')[0]);
    const body = JSON.parse((await read(req)) || '{}');
    ring.calls.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    if (!m || req.method !== 'POST') {
      res.statusCode = 404;
      return res.end(JSON.stringify({ error: { code: 404, message: `fake GCP KMS: ${req.method} ${req.url}` } }));
    }
    if (m[2] === 'encrypt') {
      const blob = ring.encrypt(m[1], Buffer.from(body.plaintext, 'base64'));
      return res.end(JSON.stringify({ name: m[1], ciphertext: blob.toString('base64') }));
    }
    const { id, plain } = ring.decrypt(Buffer.from(body.ciphertext, 'base64'));
    if (id !== m[1]) {
      res.statusCode = 400;
      return res.end(JSON.stringify({ error: { code: 400, message: 'wrong key' } }));
    }
    res.end(JSON.stringify({ plaintext: plain.toString('base64') }));
  });
  return { ring, port: await listen(server), close: () => new Promise((r) => server.close(r)) };
}

const AWS_CREDS = { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake-secret' };

test('AWS KMS provider (SDK client against a fake KMS): wrap/unwrap, values round-trip, old key still unwraps after rotation', async (t) => {
  const kms = await fakeAwsKms();
  t.teardown(() => kms.close());
  const env = new Envelope(new AwsKmsKeyProvider('alias/roundhouse-1', { endpoint: kms.url, credentials: AWS_CREDS }));
  const stored = await env.encrypt('s3cr3t value');
  t.false(stored.includes('s3cr3t'));
  t.is(JSON.parse(stored).kp, 'aws-kms');
  t.is(await env.decrypt(stored), 's3cr3t value');
  const rotated = new Envelope(
    new AwsKmsKeyProvider('alias/roundhouse-2', { endpoint: kms.url, credentials: AWS_CREDS }),
  );
  const rewrapped = await rotated.rewrap(stored);
  t.is(JSON.parse(rewrapped).ct, JSON.parse(stored).ct, 'the value is not re-encrypted, only its data key');
  t.is(await rotated.decrypt(rewrapped), 's3cr3t value');
  t.is(await rotated.decrypt(stored), 's3cr3t value', 'old wrappings still unwrap');
  t.true(kms.ring.calls.includes('TrentService.Encrypt') && kms.ring.calls.includes('TrentService.Decrypt'));
});

test('GCP KMS provider (SDK client, REST fallback, against a fake Cloud KMS): wrap/unwrap and rotation', async (t) => {
  const kms = await fakeGcpKms();
  t.teardown(() => kms.close());
  const opts = {
    fallback: true,
    apiEndpoint: '127.0.0.1',
    port: kms.port,
    protocol: 'http',
    // A stand-in for google-auth-library's client: adds a bearer token and fetches.
    authClient: {
      getRequestHeaders: async () => new Headers({ authorization: 'Bearer fake' }),
      fetch: (url: string, init: { headers: HeadersInit; body?: string | Buffer; method: string }) =>
        fetch(url, { method: init.method, headers: init.headers, body: init.body as string | undefined }),
    },
  };
  const k1 = 'projects/p/locations/global/keyRings/r/cryptoKeys/k1';
  const env = new Envelope(new GcpKmsKeyProvider(k1, opts));
  const stored = await env.encrypt('gcp secret');
  t.is(await env.decrypt(stored), 'gcp secret');
  t.true(JSON.parse(stored).dk.startsWith(`${k1}|`));
  const env2 = new Envelope(new GcpKmsKeyProvider('projects/p/locations/global/keyRings/r/cryptoKeys/k2', opts));
  const re = await env2.rewrap(stored);
  t.true(JSON.parse(re).dk.includes('cryptoKeys/k2|'));
  t.is(await env2.decrypt(re), 'gcp secret');
  t.true(kms.ring.calls.some((c) => c.split('?')[0].endsWith('cryptoKeys/k1:encrypt')));
});

test('local key file: rotate() adds a key, old wrappings unwrap, a second process reading the file sees the new key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rh-keys-'));
  const file = join(dir, 'master.key');
  const a = new LocalKeyProvider(file);
  const other = new LocalKeyProvider(file); // another server process
  const env = new Envelope(a);
  const before = await env.encrypt('v1');
  t.is(a.rotate(), 'k2');
  const after = await env.encrypt('v2');
  t.true(JSON.parse(after).dk.startsWith('k2:'));
  t.is(await new Envelope(other).decrypt(after), 'v2', 'unknown key ids make a provider re-read the file');
  t.is(await env.decrypt(before), 'v1');
  t.is((readFileSync(file, 'utf8').match(/\n/g) ?? []).length, 2);
});

test('roundhouse secrets rotate-key: a running server keeps decrypting project and context secrets throughout', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.close());
  await server.addProject(
    'gh/rot/app',
    configRepo(`version: 2.1
jobs:
  show:
    docker: [{image: x}]
    steps: [{run: echo "$(echo $PV | rev) $(echo $CV | rev)"}]
workflows:
  w: {jobs: [{show: {context: rot-ctx}}]}
`),
  );
  await server.api('POST', '/api/v2/project/gh/rot/app/envvar', { name: 'PV', value: 'project-value' });
  const ctx = (await server.api('POST', '/api/v2/context', { name: 'rot-ctx', owner: { slug: 'gh/rot' } })).body;
  await server.api('PUT', `/api/v2/context/${ctx.id}/environment-variable/CV`, { value: 'context-value' });
  const r = await exec(process.execPath, [BIN, 'secrets', 'rotate-key'], {
    env: { ...process.env, ROUNDHOUSE_DATA_DIR: server.dataDir },
  });
  t.regex(r.stdout, /new key k2 is current; re-wrapped 2 secret\(s\)/);
  t.false(r.stdout.includes('project-value'));
  const db = await Store.open(undefined, server.dataDir);
  const all = await db.secrets.allEncrypted();
  await db.close();
  t.true(
    all.every((e) => JSON.parse(e.value).dk.startsWith('k2:')),
    'every data key is wrapped by the new key',
  );
  const p = await server.trigger('gh/rot/app');
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'success');
  t.is((await server.stepOutput('gh/rot/app', wf.jobs[0].job_number!))[2].output, 'eulav-tcejorp eulav-txetnoc\n');
  t.is((await server.api('GET', '/api/v2/project/gh/rot/app/envvar/PV')).body.value, 'xxxxalue');
});

test('with a second rewrap, only stale wrappings change (a concurrent write is never overwritten)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rh-keys-'));
  const env = new Envelope(new LocalKeyProvider(join(dir, 'k')));
  const rows = [{ table: 't', where: 'x', params: [], column: 'c', value: await env.encrypt('a') }];
  const written: string[] = [];
  const n = await rewrapAll(env, {
    allEncrypted: async () => rows,
    replaceEncrypted: async (_e, next) => {
      written.push(next);
      return false; // someone wrote meanwhile
    },
  });
  t.is(n, 0);
  t.is(written.length, 1);
  t.is(await env.decrypt(written[0]), 'a');
});
