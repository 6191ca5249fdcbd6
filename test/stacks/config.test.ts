import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { CONFIG_KEYS, readSettings, StackConfigError } from '../../stacks/config.js';
import { renderStartupScript, type StartupArgs } from '../../stacks/nomad/startup.js';
import { awsMachineSize, gcpMachineSize, jobCapacity } from '../../stacks/sizing.js';
import { ROOT, stackConfig } from './helpers.js';

const awsBase = stackConfig('Pulumi.aws-staging.yaml');
const gcpBase = stackConfig('Pulumi.gcp-staging.yaml');
const read = (base: Record<string, string>, override: Record<string, string | undefined> = {}) => {
  const all: Record<string, string | undefined> = { ...base, ...override };
  return readSettings((k) => all[k], 'test');
};
const problems = (base: Record<string, string>, override: Record<string, string | undefined>): string[] => {
  try {
    read(base, override);
  } catch (e) {
    if (e instanceof StackConfigError) return [...e.problems];
    throw e;
  }
  return [];
};

test('both example stack files are valid configurations of their cloud', (t) => {
  const aws = read(awsBase);
  t.is(aws.cloud, 'aws');
  t.deepEqual(aws.zones, ['us-east-1a', 'us-east-1b', 'us-east-1c']);
  t.deepEqual(aws.nomad.jobCapacity, { vcpus: 6, memoryGb: 28 });
  const gcp = read(gcpBase);
  t.is(gcp.cloud, 'gcp');
  t.is(gcp.gcp?.project, 'example-roundhouse');
  t.deepEqual(gcp.nomad.size, { vcpus: 8, memoryGb: 32 });
});

test('settings are frozen once validated', (t) => {
  const s = read(awsBase);
  t.true(Object.isFrozen(s) && Object.isFrozen(s.nomad) && Object.isFrozen(s.cluster.authorizedCidrs));
});

test('a bad region, out-of-range sizes and a wrong cloud are rejected before anything is declared, all at once, each by key', (t) => {
  t.deepEqual(problems(awsBase, { 'roundhouse:cloud': 'azure' }), ['roundhouse:cloud: "azure" must be aws or gcp']);
  const found = problems(awsBase, {
    'aws:region': 'us-middle-9',
    'roundhouse:clusterNodeCount': '0',
    'roundhouse:nomadClientMax': '1000',
    'roundhouse:objectExpiryDays': '-1',
    'roundhouse:nomadClientDiskGb': 'big',
  });
  t.true(found.some((p) => p.startsWith('aws:region: "us-middle-9" is not an AWS region')));
  t.true(found.includes('roundhouse:clusterNodeCount: 0 is out of range (1–50)'));
  t.true(found.includes('roundhouse:nomadClientMax: 1000 is out of range (1–500)'));
  t.true(found.includes('roundhouse:objectExpiryDays: -1 is out of range (0–3650)'));
  t.true(found.includes('roundhouse:nomadClientDiskGb: "big" is not a whole number'));
  t.true(found.some((p) => p.startsWith('roundhouse:zones: "us-east-1a" is not a zone of us-middle-9')));
  t.true(problems(gcpBase, { 'gcp:region': 'us-central' }).some((p) => p.startsWith('gcp:region:')));
  t.true(problems(gcpBase, { 'gcp:project': undefined }).includes('gcp:project is required'));
  const err = t.throws(() => read(awsBase, { 'roundhouse:awsAccountId': '12' }), { instanceOf: StackConfigError });
  t.is(err?.code, 'RH_STACK_CONFIG_INVALID');
  t.regex(err?.message ?? '', /Pulumi\.test\.yaml/);
});

test('Nomad client sizes follow the guide: above 64 vCPU or 128 GB is refused with the limit, too small leaves nothing for jobs', (t) => {
  const [big] = problems(awsBase, { 'roundhouse:nomadClientMachineType': 'm5.24xlarge' });
  t.regex(big, /m5\.24xlarge has 96 vCPU \/ 384 GB is above the Nomad client maximum of 64 vCPU \/ 128 GB/);
  t.deepEqual(
    problems(awsBase, { 'roundhouse:nomadClientMachineType': 'r5.4xlarge' }),
    [],
    '16 vCPU / 128 GB is the limit',
  );
  t.regex(problems(gcpBase, { 'roundhouse:nomadClientMachineType': 'n2-highmem-32' })[0], /256 GB is above/);
  t.regex(problems(awsBase, { 'roundhouse:nomadClientMachineType': 't3a.medium' })[0], /leaves nothing for jobs/);
  t.regex(problems(awsBase, { 'roundhouse:nomadClientMachineType': 'p4d.24xlarge' })[0], /cannot tell the size/);
  const custom = read(awsBase, {
    'roundhouse:nomadClientMachineType': 'p4d.24xlarge',
    'roundhouse:nomadClientVcpus': '48',
    'roundhouse:nomadClientMemoryGb': '96',
  });
  t.deepEqual(custom.nomad.jobCapacity, { vcpus: 46, memoryGb: 92 });
  t.true(
    problems(awsBase, { 'roundhouse:nomadClientVcpus': '96', 'roundhouse:nomadClientMemoryGb': '64' })[0].includes(
      'out of range (3–64)',
    ),
  );
});

test('machine sizes are read from type names on both clouds', (t) => {
  t.deepEqual(awsMachineSize('t3a.2xlarge'), { vcpus: 8, memoryGb: 32 });
  t.deepEqual(awsMachineSize('c6i.4xlarge'), { vcpus: 16, memoryGb: 32 });
  t.deepEqual(awsMachineSize('r7g.xlarge'), { vcpus: 4, memoryGb: 32 });
  t.deepEqual(gcpMachineSize('n2-standard-8'), { vcpus: 8, memoryGb: 32 });
  t.deepEqual(gcpMachineSize('n2-custom-16-65536'), { vcpus: 16, memoryGb: 64 });
  t.deepEqual(gcpMachineSize('e2-highcpu-16'), { vcpus: 16, memoryGb: 16 });
  t.is(gcpMachineSize('e2-medium'), undefined);
});

test('job capacity is the machine minus the 2 vCPU / 4 GB reserve, within the guide limits (property)', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 256 }), fc.integer({ min: 1, max: 1024 }), (vcpus, memoryGb) => {
      const c = jobCapacity({ vcpus, memoryGb });
      const ok = vcpus > 2 && memoryGb > 4 && vcpus <= 64 && memoryGb <= 128;
      if (!ok) return 'error' in c;
      return !('error' in c) && c.vcpus === vcpus - 2 && c.memoryGb === memoryGb - 4;
    }),
  );
  t.pass();
});

test('networks: 0.0.0.0/0 never reaches the Kubernetes API; SSH reruns default to the VPC; lists as YAML or comma-separated', (t) => {
  t.true(
    problems(awsBase, { 'roundhouse:clusterAuthorizedCidrs': '["0.0.0.0/0"]' })[0].includes(
      'would open this to the internet',
    ),
  );
  t.deepEqual(read(awsBase, { 'roundhouse:sshRerunCidrs': undefined }).nomad.sshRerunCidrs, ['10.40.0.0/16']);
  t.deepEqual(read(awsBase, { 'roundhouse:sshRerunCidrs': '203.0.113.0/24, 192.0.2.0/24' }).nomad.sshRerunCidrs, [
    '203.0.113.0/24',
    '192.0.2.0/24',
  ]);
  t.true(problems(awsBase, { 'roundhouse:vpcCidr': '8.8.0.0/16' })[0].includes('not a private'));
  t.true(problems(awsBase, { 'roundhouse:vpcCidr': '10.40.0.1/16' })[0].includes('not an IPv4 CIDR'));
  t.true(problems(awsBase, { 'roundhouse:nomadDockerNetworkCidr': '10.40.128.0/17' })[0].includes('overlaps vpcCidr'));
  t.true(problems(gcpBase, { 'roundhouse:gkeMasterCidr': '10.40.0.0/28' })[0].includes('overlaps vpcCidr'));
  t.true(problems(awsBase, { 'roundhouse:zones': 'us-east-1a' })[0].includes('AWS needs 2–4 zones'));
  t.true(problems(awsBase, { 'roundhouse:gitUrl': 'git@github.com:x/y.git' })[0].includes('https:// or ssh://'));
});

test('every configuration key is documented in the operator guide, and the example stacks use only documented keys', (t) => {
  const guide = readFileSync(new URL('docs/operators-stacks.md', ROOT), 'utf8');
  for (const { key } of CONFIG_KEYS) t.true(guide.includes(`\`${key}\``), `${key} is not in docs/operators-stacks.md`);
  const known = new Set(CONFIG_KEYS.map((k) => k.key));
  for (const key of [...Object.keys(awsBase), ...Object.keys(gcpBase)])
    t.true(known.has(key), `${key} is not a documented key`);
});

const startupArgs: StartupArgs = {
  cloud: 'aws',
  environment: 'test',
  serverAddress: 'nomad.example.com:4647',
  nodeClass: 'linux-64bit',
  datacenter: 'us-east-1',
  caPem: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----',
  certPem: '-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----',
  keyPem: "-----BEGIN PRIVATE KEY-----\nKEY $HOME `x` 'q'\n-----END PRIVATE KEY-----",
  dockerNetworkCidr: '10.10.0.0/16',
  blockedCidrs: ['10.40.64.0/20', '10.40.80.0/20'],
  dnsServer: '10.40.0.2',
  jobVcpus: 6,
  jobMemoryGb: 28,
  nomadVersion: '1.7.7-1',
};

test('the Nomad startup script is valid bash on both clouds and writes PEMs verbatim, the key readable by root only', (t) => {
  for (const cloud of ['aws', 'gcp'] as const) {
    const script = renderStartupScript({ ...startupArgs, cloud });
    t.notThrows(() => execFileSync('bash', ['-n'], { input: script }), cloud);
    // Quoted heredocs: nothing in a PEM is expanded by the shell.
    t.true(script.includes("KEY $HOME `x` 'q'"));
    t.regex(
      script,
      /client-key\.pem <<'ROUNDHOUSE_EOF'\n[\s\S]*?ROUNDHOUSE_EOF\nchmod 0600 \/etc\/nomad\.d\/tls\/client-key\.pem/,
    );
    for (const cidr of startupArgs.blockedCidrs)
      for (const iface of ['docker+', 'br-+'])
        t.true(script.includes(`iptables -A DOCKER-USER -i ${iface} -d ${cidr} -j DROP`));
    t.regex(script, /"default-address-pools": \[\s*\{\s*"base": "10\.10\.0\.0\/16",\s*"size": 24/);
    t.regex(script, /apt-get install -y -q "nomad=1\.7\.7-1"/);
  }
});
