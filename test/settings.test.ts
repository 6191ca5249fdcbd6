import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadSettings } from '../runtime/src/shared/settings.js';

test('defaults: data dir .roundhouse, port 3000, SQLite, demo on, generated admin token', (t) => {
  const s = loadSettings({});
  t.is(s.dataDir, join(process.cwd(), '.roundhouse'));
  t.is(s.port, 3000);
  t.is(s.databaseUrl, undefined);
  t.true(s.demo);
  t.true(s.adminTokenGenerated);
  t.regex(s.adminToken, /^rh_[0-9a-f]{40}$/);
  t.true(Object.isFrozen(s));
});

test('every setting is read and validated, secrets also from *_FILE', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rh-settings-'));
  writeFileSync(join(dir, 'token'), 'a-token-from-a-file-123\n');
  writeFileSync(join(dir, 'db'), 'postgres://u@h/db\n');
  const s = loadSettings({
    ROUNDHOUSE_DATA_DIR: dir,
    ROUNDHOUSE_PORT: '8080',
    ROUNDHOUSE_ADMIN_TOKEN_FILE: join(dir, 'token'),
    DATABASE_URL_FILE: join(dir, 'db'),
    ROUNDHOUSE_DEMO: '0',
    ROUNDHOUSE_SANDBOX: 'none',
  });
  t.like(s, {
    dataDir: dir,
    port: 8080,
    adminToken: 'a-token-from-a-file-123',
    adminTokenGenerated: false,
    databaseUrl: 'postgres://u@h/db',
    demo: false,
    sandbox: 'none',
  });
});

test('bad settings are rejected with the setting name and what is expected', (t) => {
  t.throws(() => loadSettings({ ROUNDHOUSE_PORT: 'http' }), {
    message: /ROUNDHOUSE_PORT: expected an integer from 0 to 65535, got "http"/,
  });
  t.throws(() => loadSettings({ ROUNDHOUSE_PORT: '70000' }), { message: /ROUNDHOUSE_PORT/ });
  t.throws(() => loadSettings({ DATABASE_URL: 'mysql://x' }), {
    message: /DATABASE_URL: expected a postgres:\/\/ URL/,
  });
  t.throws(() => loadSettings({ ROUNDHOUSE_SANDBOX: 'docker' }), {
    message: /ROUNDHOUSE_SANDBOX: expected bwrap or none/,
  });
  t.throws(() => loadSettings({ ROUNDHOUSE_DEMO: 'yes' }), { message: /ROUNDHOUSE_DEMO/ });
  t.throws(() => loadSettings({ ROUNDHOUSE_ADMIN_TOKEN: 'short' }), { message: /at least 16 characters/ });
  const err = t.throws(() => loadSettings({ ROUNDHOUSE_ADMIN_TOKEN_FILE: '/nonexistent/secret' }));
  t.regex(err!.message, /ROUNDHOUSE_ADMIN_TOKEN_FILE: cannot read \/nonexistent\/secret/);
});

test('identity and secrets settings: GitHub / GHE OAuth, webhook secret, key provider', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rh-settings-'));
  writeFileSync(join(dir, 'gh'), 'client-secret-from-file\n');
  t.like(loadSettings({}), { github: undefined, webhookSecret: undefined, keyProvider: { kind: 'local' } });
  const ghe = loadSettings({
    ROUNDHOUSE_GITHUB_URL: 'https://ghe.example.com/',
    ROUNDHOUSE_GITHUB_CLIENT_ID: 'id',
    ROUNDHOUSE_GITHUB_CLIENT_SECRET_FILE: join(dir, 'gh'),
    ROUNDHOUSE_GITHUB_WEBHOOK_SECRET: 'hook',
    ROUNDHOUSE_KEY_PROVIDER: 'aws-kms',
    ROUNDHOUSE_KMS_KEY_ID: 'alias/roundhouse',
    ROUNDHOUSE_KMS_REGION: 'eu-west-1',
  });
  t.deepEqual(ghe.github, {
    url: 'https://ghe.example.com',
    apiUrl: 'https://ghe.example.com/api/v3',
    clientId: 'id',
    clientSecret: 'client-secret-from-file',
  });
  t.is(ghe.webhookSecret, 'hook');
  t.like(ghe.keyProvider, { kind: 'aws-kms', keyId: 'alias/roundhouse', region: 'eu-west-1' });
  const dotcom = loadSettings({ ROUNDHOUSE_GITHUB_CLIENT_ID: 'id', ROUNDHOUSE_GITHUB_CLIENT_SECRET: 's' });
  t.is(dotcom.github?.apiUrl, 'https://api.github.com');
  t.throws(() => loadSettings({ ROUNDHOUSE_GITHUB_CLIENT_ID: 'id' }), { message: /ROUNDHOUSE_GITHUB_CLIENT_SECRET/ });
  t.throws(() => loadSettings({ ROUNDHOUSE_GITHUB_URL: 'ghe.example.com' }), { message: /ROUNDHOUSE_GITHUB_URL/ });
  t.throws(() => loadSettings({ ROUNDHOUSE_KEY_PROVIDER: 'vault' }), {
    message: /ROUNDHOUSE_KEY_PROVIDER: expected local, aws-kms or gcp-kms/,
  });
  t.throws(() => loadSettings({ ROUNDHOUSE_KEY_PROVIDER: 'aws-kms' }), {
    message: /ROUNDHOUSE_KMS_KEY_ID: is required/,
  });
  t.throws(() => loadSettings({ ROUNDHOUSE_KEY_PROVIDER: 'gcp-kms', ROUNDHOUSE_KMS_KEY_ID: 'k' }), {
    message: /projects\/<p>\/locations/,
  });
});

test('executor settings: Docker engine, network, ECR endpoint, unsafe artifact types', (t) => {
  const none = loadSettings({});
  t.is(none.docker, undefined, 'without an engine, docker jobs run on the local sandbox');
  t.false(none.artifactsServeUnsafe);
  const s = loadSettings({
    ROUNDHOUSE_DOCKER_HOST: 'unix:///run/podman/podman.sock',
    ROUNDHOUSE_DOCKER_NETWORK: 'ci-net',
    ROUNDHOUSE_ECR_ENDPOINT: 'https://api.ecr.eu-west-1.amazonaws.com',
    ROUNDHOUSE_ARTIFACTS_SERVE_UNSAFE: 'true',
  });
  t.deepEqual(s.docker, {
    host: 'unix:///run/podman/podman.sock',
    network: 'ci-net',
    ecrEndpoint: 'https://api.ecr.eu-west-1.amazonaws.com',
  });
  t.true(s.artifactsServeUnsafe);
  t.is(loadSettings({ ROUNDHOUSE_DOCKER_HOST: '/var/run/docker.sock' }).docker?.network, 'bridge');
  t.throws(() => loadSettings({ ROUNDHOUSE_DOCKER_HOST: 'docker.example.com' }), {
    message: /ROUNDHOUSE_DOCKER_HOST.*socket path, unix:\/\/\/path or tcp:\/\/host:port/,
  });
  t.throws(() => loadSettings({ ROUNDHOUSE_DOCKER_HOST: '/x.sock', ROUNDHOUSE_DOCKER_NETWORK: 'bad net' }), {
    message: /ROUNDHOUSE_DOCKER_NETWORK/,
  });
});
