import { Kustomization } from '@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1';
import { GitRepository } from '@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1';
import test from 'ava';
import { RESOURCE_RULES, STACK_RULES } from '../../policies/rules.js';
import { inputsOf, one, ofType, type ProgramRun, runProgram, violationsOf } from './helpers.js';

const M = 'GCP composition under Pulumi mocks (no cloud, no Pulumi CLI here)';
const PROJECT = 'example-roundhouse';
const VPC = '10.40.0.0/16';
const OFFICE = '198.51.100.0/24';
const KEYS = `projects/${PROJECT}/locations/us-central1/keyRings/roundhouse-gcp-staging/cryptoKeys`;
const sa = (id: string) => `serviceAccount:gcp-staging-${id}@${PROJECT}.iam.gserviceaccount.com`;

let run: ProgramRun;
test.before(async () => {
  run = await runProgram({ stackFile: 'Pulumi.gcp-staging.yaml', stack: 'gcp-staging' });
});

const firewall = (id: string) => inputsOf(one(run, 'gcp:compute/firewall:Firewall', `fleet-firewall-${id}`));
const bucketGrants = (member: string) =>
  ofType(run, 'gcp:storage/bucketIAMMember:BucketIAMMember')
    .map(inputsOf)
    .filter((g) => g.member === member)
    .map((g) => `${g.bucket.replace(`${PROJECT}-gcp-staging-`, '')}:${g.role}`)
    .sort();

test(`${M}: reads config only, calls no data source, and every component keeps the roundhouse:<module>:<Name> contract`, (t) => {
  t.deepEqual(run.calls, []);
  const components = run.resources.filter((r) => !r.custom).map((r) => r.type);
  for (const c of [
    'Network',
    'Keys',
    'ObjectStorage',
    'Cluster',
    'FleetFirewall',
    'NomadClients',
    'Identity',
    'Database',
  ])
    t.true(components.includes(`roundhouse:gcp:${c}`), c);
  const provider = inputsOf(one(run, 'pulumi:providers:gcp', 'gcp'));
  t.is(provider.project, PROJECT);
  t.is(provider.region, 'us-central1');
  t.false(
    run.resources.some((r) => r.type.startsWith('aws:')),
    'the AWS composition is not run',
  );
});

test(`${M}: subnetworks for cluster, Nomad clients and VMs carved from the VPC range, pods and services as secondary ranges, Cloud NAT`, (t) => {
  const subnet = (tier: string) => inputsOf(one(run, 'gcp:compute/subnetwork:Subnetwork', `network-${tier}`));
  t.is(subnet('cluster').ipCidrRange, '10.40.0.0/20');
  t.deepEqual(subnet('cluster').secondaryIpRanges, [
    { rangeName: 'pods', ipCidrRange: '10.40.128.0/17' },
    { rangeName: 'services', ipCidrRange: '10.40.48.0/20' },
  ]);
  t.is(subnet('nomad').ipCidrRange, '10.40.16.0/20');
  t.is(subnet('vms').ipCidrRange, '10.40.32.0/20');
  t.false(inputsOf(one(run, 'gcp:compute/network:Network', 'network')).autoCreateSubnetworks);
  t.is(
    inputsOf(one(run, 'gcp:compute/routerNat:RouterNat', 'network-nat')).sourceSubnetworkIpRangesToNat,
    'ALL_SUBNETWORKS_ALL_IP_RANGES',
  );
});

test(`${M}: firewall rules — Nomad 4646-4648 only from the VPC, SSH reruns from the configured CIDR, VMs 22/2376 only from Nomad clients, 54782`, (t) => {
  const nomad = firewall('nomad-from-vpc');
  t.deepEqual(nomad.allows, [
    { protocol: 'tcp', ports: ['4646-4648'] },
    { protocol: 'udp', ports: ['4646-4648'] },
  ]);
  t.deepEqual(nomad.sourceRanges, [VPC]);
  t.deepEqual(nomad.targetTags, ['roundhouse-gcp-staging-nomad-client']);
  t.deepEqual(firewall('nomad-ssh-rerun').allows, [{ protocol: 'tcp', ports: ['64535-65535'] }]);
  t.deepEqual(firewall('nomad-ssh-rerun').sourceRanges, [OFFICE]);
  const vm = firewall('vm-from-nomad');
  t.deepEqual(vm.allows, [{ protocol: 'tcp', ports: ['22', '2376'] }]);
  t.deepEqual(vm.sourceTags, ['roundhouse-gcp-staging-nomad-client']);
  t.is(vm.sourceRanges, undefined);
  t.deepEqual(vm.targetTags, ['roundhouse-gcp-staging-vm']);
  t.deepEqual(firewall('vm-ssh-rerun').allows, [{ protocol: 'tcp', ports: ['54782'] }]);
  t.deepEqual(firewall('nomad-health-checks').sourceRanges, ['35.191.0.0/16', '130.211.0.0/22']);
  t.false(
    ofType(run, 'gcp:compute/firewall:Firewall').some((f) => (inputsOf(f).sourceRanges ?? []).includes('0.0.0.0/0')),
  );
});

test(`${M}: every identity is bound by Workload Identity to its own Kubernetes service account`, (t) => {
  const bindings = ofType(run, 'gcp:serviceaccount/iAMMember:IAMMember')
    .map(inputsOf)
    .filter((b) => b.role === 'roles/iam.workloadIdentityUser');
  const expected: Record<string, string> = {
    api: 'roundhouse/api',
    conductor: 'roundhouse/conductor',
    dispatcher: 'roundhouse/dispatcher',
    output: 'roundhouse/output',
    'vm-service': 'roundhouse/vm-service',
    velero: 'velero/velero',
    autoscaler: 'roundhouse/nomad-autoscaler',
  };
  t.is(bindings.length, Object.keys(expected).length);
  for (const [id, ksa] of Object.entries(expected)) {
    const b = bindings.find((x) =>
      x.serviceAccountId.endsWith(`/gcp-staging-${id}@${PROJECT}.iam.gserviceaccount.com`),
    );
    t.is(b?.member, `serviceAccount:${PROJECT}.svc.id.goog[${ksa}]`, id);
  }
});

test(`${M}: runtime roles get bucket- and key-level grants only, per the least-privilege table`, (t) => {
  t.deepEqual(bucketGrants(sa('api')), ['audit:roles/storage.objectCreator', 'outputs:roles/storage.objectViewer']);
  t.deepEqual(bucketGrants(sa('conductor')), ['audit:roles/storage.objectCreator']);
  t.deepEqual(bucketGrants(sa('dispatcher')), []);
  t.deepEqual(bucketGrants(sa('output')), ['caches:roles/storage.objectUser', 'outputs:roles/storage.objectUser']);
  const keyGrants = ofType(run, 'gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember')
    .map(inputsOf)
    .filter((g) => g.member.includes('gcp-staging-'));
  t.deepEqual(
    keyGrants
      .map((g) => `${g.member.split('@')[0].split('-').pop()}:${g.role}:${g.cryptoKeyId.split('/').pop()}`)
      .sort(),
    [
      'api:roles/cloudkms.cryptoKeyEncrypterDecrypter:secrets',
      'conductor:roles/cloudkms.cryptoKeyDecrypter:secrets',
      'dispatcher:roles/cloudkms.cryptoKeyDecrypter:secrets',
    ],
  );
  const projectRoles = ofType(run, 'gcp:projects/iAMMember:IAMMember').map(inputsOf);
  t.false(
    projectRoles.some((r) => r.role.startsWith('roles/storage.')),
    'no project-wide storage role',
  );
  t.false(
    projectRoles.some((r) => r.role === 'roles/iam.serviceAccountUser'),
    'no project-wide actAs',
  );
});

test(`${M}: VM service, Velero and the autoscaler get the guide's GCP roles, scoped`, (t) => {
  const projectRoles = ofType(run, 'gcp:projects/iAMMember:IAMMember').map(inputsOf);
  t.true(projectRoles.some((r) => r.member === sa('vm-service') && r.role === 'roles/compute.instanceAdmin.v1'));
  const actAs = ofType(run, 'gcp:serviceaccount/iAMMember:IAMMember')
    .map(inputsOf)
    .find((b) => b.role === 'roles/iam.serviceAccountUser')!;
  t.is(actAs.member, sa('vm-service'));
  t.is(actAs.serviceAccountId, `projects/${PROJECT}/serviceAccounts/gcp-staging-vm@${PROJECT}.iam.gserviceaccount.com`);

  const velero = inputsOf(one(run, 'gcp:projects/iAMCustomRole:IAMCustomRole', 'identity-velero'));
  t.deepEqual(velero.permissions, [
    'compute.disks.get',
    'compute.disks.create',
    'compute.disks.createSnapshot',
    'compute.snapshots.get',
    'compute.snapshots.create',
    'compute.snapshots.useReadOnly',
    'compute.snapshots.delete',
    'compute.zones.get',
  ]);
  t.true(
    projectRoles.some(
      (r) => r.member === sa('velero') && r.role === `projects/${PROJECT}/roles/roundhouse_gcp_staging_velero`,
    ),
  );
  t.deepEqual(bucketGrants(sa('velero')), ['backups:roles/storage.objectAdmin']);
  t.true(
    ofType(run, 'gcp:serviceaccount/iAMMember:IAMMember')
      .map(inputsOf)
      .some((b) => b.member === sa('velero') && b.role === 'roles/iam.serviceAccountTokenCreator'),
    'Velero can sign blobs as itself',
  );

  const scaler = projectRoles.find((r) => r.member === sa('autoscaler'))!;
  t.is(scaler.role, `projects/${PROJECT}/roles/roundhouse_gcp_staging_nomad_autoscaler`);
  t.true(
    scaler.condition.expression.includes(
      `projects/${PROJECT}/regions/us-central1/instanceGroupManagers/roundhouse-gcp-staging-nomad-clients`,
    ),
  );
  t.false(projectRoles.some((r) => r.role === 'roles/compute.admin'));
});

test(`${M}: four private CMEK buckets; audit and backups versioned; outputs and caches expire after the setting`, (t) => {
  const buckets = ofType(run, 'gcp:storage/bucket:Bucket').map(inputsOf);
  t.is(buckets.length, 4);
  for (const b of buckets) {
    t.true(b.uniformBucketLevelAccess);
    t.is(b.publicAccessPrevention, 'enforced');
    t.is(b.encryption.defaultKmsKeyName, `${KEYS}/storage`);
    t.is(b.location, 'US-CENTRAL1');
    const purpose = b.name.split('-').pop();
    t.is(b.versioning.enabled, purpose === 'audit' || purpose === 'backups', purpose);
    const expiry = b.lifecycleRules.find(
      (r: { action: { type: string }; condition: { age?: number } }) => r.action.type === 'Delete' && r.condition.age,
    );
    t.is(expiry?.condition.age, purpose === 'outputs' || purpose === 'caches' ? 30 : undefined, purpose);
  }
});

test(`${M}: KMS keys rotate every 90 days and only Google's service agents use the storage key`, (t) => {
  for (const k of ofType(run, 'gcp:kms/cryptoKey:CryptoKey').map(inputsOf)) t.is(k.rotationPeriod, '7776000s');
  const agents = ofType(run, 'gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember')
    .map(inputsOf)
    .filter((g) => g.cryptoKeyId === `${KEYS}/storage`)
    .map((g) => g.member)
    .sort();
  t.deepEqual(agents, [
    'serviceAccount:service-123456789012@compute-system.iam.gserviceaccount.com',
    'serviceAccount:service-123456789012@gcp-sa-cloud-sql.iam.gserviceaccount.com',
    'serviceAccount:service-123456789012@gs-project-accounts.iam.gserviceaccount.com',
  ]);
});

test(`${M}: GKE has private nodes, a public endpoint only for authorized networks, Workload Identity and encrypted secrets`, (t) => {
  const gke = inputsOf(one(run, 'gcp:container/cluster:Cluster', 'cluster'));
  t.deepEqual(gke.privateClusterConfig, {
    enablePrivateNodes: true,
    enablePrivateEndpoint: false,
    masterIpv4CidrBlock: '172.16.0.32/28',
  });
  t.deepEqual(gke.masterAuthorizedNetworksConfig.cidrBlocks, [{ cidrBlock: OFFICE, displayName: 'authorized-0' }]);
  t.deepEqual(gke.workloadIdentityConfig, { workloadPool: `${PROJECT}.svc.id.goog` });
  t.deepEqual(gke.databaseEncryption, { state: 'ENCRYPTED', keyName: `${KEYS}/secrets` });
  t.true(gke.removeDefaultNodePool);
  const pool = inputsOf(one(run, 'gcp:container/nodePool:NodePool', 'cluster-nodes'));
  t.is(pool.nodeConfig.workloadMetadataConfig.mode, 'GKE_METADATA');
  t.is(pool.nodeConfig.serviceAccount, `gcp-staging-gke-node@${PROJECT}.iam.gserviceaccount.com`);
  t.deepEqual(pool.autoscaling, { totalMinNodeCount: 3, totalMaxNodeCount: 6, locationPolicy: 'BALANCED' });
});

test(`${M}: the Nomad instance template has no external address, a CMEK disk, no legacy metadata, and the startup script`, (t) => {
  const tpl = inputsOf(one(run, 'gcp:compute/instanceTemplate:InstanceTemplate', 'nomad-clients-template'));
  t.is(tpl.machineType, 'n2-standard-8');
  t.is(tpl.networkInterfaces[0].accessConfigs, undefined);
  t.is(tpl.disks[0].diskEncryptionKey.kmsKeySelfLink, `${KEYS}/storage`);
  t.deepEqual(tpl.tags, ['roundhouse-gcp-staging-nomad-client']);
  t.true(tpl.shieldedInstanceConfig.enableSecureBoot);
  t.is(tpl.metadata['disable-legacy-endpoints'], 'true');
  const script: string = tpl.metadata['startup-script'];
  t.regex(script, /Metadata-Flavor: Google/);
  t.regex(script, /servers\s+= \["nomad\.ci-staging\.example\.com:4647"\]/);
  t.regex(script, /"userns-remap": "default"/);
  t.regex(script, /cores\s+= "0-1"\n\s+memory = 4096/);
  t.regex(script, /"roundhouse\.job_vcpus"\s+= "6"/, 'n2-standard-8: 8 vCPU, 6 for jobs');
  t.regex(
    script,
    /-d 169\.254\.169\.254\/32 -p udp --dport 53 -j RETURN\n(.*\n)*.*-d 169\.254\.0\.0\/16 -j DROP/,
    'DNS first, then no metadata',
  );
  t.regex(script, /-d 10\.40\.128\.0\/17 -j DROP/, 'jobs cannot reach pods');
  t.true(script.includes('-----BEGIN PRIVATE KEY nomad-tls-client-----'));
});

test(`${M}: the regional managed instance group is auto-healed by a health check on the Nomad client endpoint`, (t) => {
  const hc = inputsOf(one(run, 'gcp:compute/healthCheck:HealthCheck', 'nomad-clients-health'));
  t.deepEqual(hc.httpsHealthCheck, { port: 4646, requestPath: '/v1/agent/health?type=client' });
  const mig = inputsOf(
    one(run, 'gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager', 'nomad-clients-group'),
  );
  t.is(mig.name, 'roundhouse-gcp-staging-nomad-clients');
  t.is(mig.targetSize, 1);
  t.deepEqual(mig.autoHealingPolicies, { healthCheck: 'nomad-clients-health_id', initialDelaySec: 300 });
  t.is(mig.versions[0].instanceTemplate, 'nomad-clients-template_id');
  t.deepEqual(mig.distributionPolicyZones, ['us-central1-a', 'us-central1-b', 'us-central1-c']);
});

test(`${M}: Cloud SQL PostgreSQL has only a private IP, requires TLS and uses the storage key`, (t) => {
  const db = inputsOf(one(run, 'gcp:sql/databaseInstance:DatabaseInstance', 'database-instance'));
  t.is(db.databaseVersion, 'POSTGRES_15');
  t.is(db.encryptionKeyName, `${KEYS}/storage`);
  t.true(db.deletionProtection);
  t.deepEqual(db.settings.ipConfiguration, {
    ipv4Enabled: false,
    privateNetwork: `projects/${PROJECT}/global/networks/roundhouse-gcp-staging`,
    sslMode: 'ENCRYPTED_ONLY',
  });
  t.true(db.settings.backupConfiguration.pointInTimeRecoveryEnabled);
  const reserved = inputsOf(one(run, 'gcp:compute/globalAddress:GlobalAddress', 'database-private-services'));
  t.deepEqual([reserved.address, reserved.prefixLength, reserved.purpose], ['10.40.64.0', 20, 'VPC_PEERING']);
});

test(`${M}: Flux follows charts-ts/dist/gcp-staging and the ConfigMap carries GCS buckets and Workload Identity emails`, (t) => {
  const git = inputsOf(one(run, 'kubernetes:source.toolkit.fluxcd.io/v1:GitRepository', 'flux-source'));
  const ks = inputsOf(one(run, 'kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization', 'flux-kustomization'));
  t.notThrows(() => new GitRepository(git as never).validate());
  t.notThrows(() => new Kustomization(ks as never).validate());
  t.is(ks.spec.path, './charts-ts/dist/gcp-staging');
  const cm = inputsOf(one(run, 'kubernetes:core/v1:ConfigMap', 'flux-outputs')).data;
  t.is(cm.ROUNDHOUSE_OBJECTS_BUCKET, `${PROJECT}-gcp-staging-outputs`);
  t.is(cm.ROUNDHOUSE_OBJECTS_ENDPOINT, 'https://storage.googleapis.com');
  t.is(cm.ROUNDHOUSE_SECRETS_PROVIDER, 'gcp-kms');
  t.is(cm.ROUNDHOUSE_SECRETS_KMS_KEY, `${KEYS}/secrets`);
  t.is(cm.ROUNDHOUSE_IDENTITY_ANNOTATION, 'iam.gke.io/gcp-service-account');
  t.is(cm.ROUNDHOUSE_IDENTITY_API, `gcp-staging-api@${PROJECT}.iam.gserviceaccount.com`);
  t.is(cm.VM_SERVICE_NETWORK_TAG, 'roundhouse-gcp-staging-vm');
  t.is(cm.DATABASE_HOST, '10.40.64.3');
});

test(`${M}: every CrossGuard rule passes on every resource of the run`, (t) => {
  t.deepEqual(violationsOf(run, RESOURCE_RULES, STACK_RULES), []);
});
