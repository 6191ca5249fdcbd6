import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';
import { S3ObjectStore } from '../../runtime/src/objects/s3.js';
import { expireObjects, FsObjectStore, type ObjectStore } from '../../runtime/src/objects/store.js';
import { configRepo } from '../helpers/git.js';
import { startTestServer } from '../helpers/server.js';

let s3: { close(): Promise<void> } | undefined;
let port = 0;
test.before(async () => {
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: mkdtempSync(join(tmpdir(), 'rh-s3rver-')),
    configureBuckets: [{ name: 'roundhouse-test' }],
  });
  const addr = await server.run();
  port = addr.port;
  s3 = server;
});
test.after.always(async () => s3?.close());

const s3Store = () =>
  new S3ObjectStore({
    bucket: 'roundhouse-test',
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    prefix: `t${Math.random().toString(36).slice(2)}/`,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
const stores: [string, () => ObjectStore][] = [
  ['folder', () => new FsObjectStore(mkdtempSync(join(tmpdir(), 'rh-objects-')))],
  ['s3 (s3rver)', s3Store],
];
const text = async (r: Readable | undefined) => {
  if (!r) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
};

for (const [kind, make] of stores) {
  test(`${kind}: storage object expiry deletes what is older than N days, 0 keeps everything`, async (t) => {
    const store = make();
    await store.put('artifacts/j1/0/a.txt', Readable.from(['a']));
    await store.put('caches/p/k', Readable.from(['c']));
    await store.put('elsewhere/x', Readable.from(['x']));
    t.is(await expireObjects(store, 0), 0);
    t.is(await expireObjects(store, 1), 0, 'nothing is a day old yet');
    // Seen from three days on, both are past a 2-day expiry; objects outside the job data stay.
    t.is(await expireObjects(store, 2, Date.now() + 3 * 86400000), 2);
    t.is(await store.head('artifacts/j1/0/a.txt'), undefined);
    t.is(await store.head('caches/p/k'), undefined);
    t.truthy(await store.head('elsewhere/x'));
  });

  test(`${kind}: put, get, head, list by prefix, put-if-absent keeps the first`, async (t) => {
    const store = make();
    t.true(await store.put('caches/p1/deps-main-abc', Readable.from(['first'])));
    t.false(await store.put('caches/p1/deps-main-abc', Readable.from(['second']), { ifAbsent: true }));
    t.is(await text(await store.get('caches/p1/deps-main-abc')), 'first');
    await store.put('caches/p1/deps-main-def', Readable.from(['x'.repeat(3000)]));
    await store.put('caches/p2/other', Readable.from(['y']));
    t.is((await store.head('caches/p1/deps-main-def'))?.size, 3000);
    t.is(await store.head('caches/p1/missing'), undefined);
    t.is(await store.get('caches/p1/missing'), undefined);
    t.deepEqual((await store.list('caches/p1/deps-main-')).map((o) => o.key).sort(), [
      'caches/p1/deps-main-abc',
      'caches/p1/deps-main-def',
    ]);
  });
}

test('a pipeline keeps its caches and workspaces in S3 when a bucket is configured', async (t) => {
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  const server = await startTestServer({
    ROUNDHOUSE_OBJECTS_BUCKET: 'roundhouse-test',
    ROUNDHOUSE_OBJECTS_ENDPOINT: `http://127.0.0.1:${port}`,
    ROUNDHOUSE_OBJECTS_PREFIX: 'pipeline/',
  });
  t.teardown(() => server.close());
  await server.addProject(
    'gh/s3/app',
    configRepo(`version: 2.1
jobs:
  a:
    docker: [{image: x}]
    steps:
      - run: mkdir -p w && echo from-a > w/f
      - persist_to_workspace: {root: w, paths: [f]}
      - save_cache: {key: k1, paths: [w]}
  b:
    docker: [{image: x}]
    steps:
      - attach_workspace: {at: got}
      - restore_cache: {key: k1}
      - run: cat got/f w/f
workflows:
  w: {jobs: [a, {b: {requires: [a]}}]}
`),
  );
  const p = await server.trigger('gh/s3/app');
  const [wf] = await server.waitForPipeline(p.id);
  t.is(wf.status, 'success');
  const b = wf.jobs.find((j) => j.name === 'b')!;
  const out = await server.stepOutput('gh/s3/app', b.job_number!);
  t.regex(out.at(-1)!.output, /from-a\nfrom-a\n/);
  const direct = new S3ObjectStore({
    bucket: 'roundhouse-test',
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    prefix: 'pipeline/',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  t.true((await direct.list('caches/')).length === 1, 'the cache object is in the bucket');
  t.true((await direct.list('workspaces/')).length === 1, 'the workspace layer is in the bucket');
});
