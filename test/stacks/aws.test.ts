import { Kustomization } from '@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1';
import { GitRepository } from '@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1';
import test from 'ava';
import { ConfigMap, Secret } from 'kubernetes-models/v1';
import { RESOURCE_RULES, STACK_RULES } from '../../policies/rules.js';
import { docOf, inputsOf, one, ofType, type ProgramRun, runProgram, violationsOf } from './helpers.js';

const M = 'AWS composition under Pulumi mocks (no cloud, no Pulumi CLI here)';
const VPC = '10.40.0.0/16';
const OFFICE = '198.51.100.0/24';
const ACCOUNT = '123456789012';
const SG = 'aws:ec2/securityGroup:SecurityGroup';
const INGRESS = 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule';

let run: ProgramRun;
test.before(async () => {
  run = await runProgram({ stackFile: 'Pulumi.aws-staging.yaml', stack: 'aws-staging' });
});

type Statement = Record<string, any>;
const statements = (role: string): Statement[] =>
  docOf(one(run, 'aws:iam/rolePolicy:RolePolicy', `identity-${role}`), 'policy').Statement;
const actionsOf = (s: Statement[]) => s.flatMap((x) => (Array.isArray(x.Action) ? x.Action : [x.Action]));

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
    t.true(components.includes(`roundhouse:aws:${c}`), c);
  t.true(components.includes('roundhouse:nomad:Tls'));
  t.true(components.includes('roundhouse:k8s:FluxBootstrap'));
  const provider = inputsOf(one(run, 'pulumi:providers:aws', 'aws'));
  t.is(provider.region, 'us-east-1');
  t.deepEqual(JSON.parse(provider.allowedAccountIds), [ACCOUNT]);
});

test(`${M}: the VPC spans three zones with public, cluster, nomad and vm subnets and a NAT gateway per zone`, (t) => {
  t.is(inputsOf(one(run, 'aws:ec2/vpc:Vpc', 'network')).cidrBlock, VPC);
  const subnets = ofType(run, 'aws:ec2/subnet:Subnet').map(inputsOf);
  t.is(subnets.length, 12);
  t.deepEqual([...new Set(subnets.map((s) => s.availabilityZone))].sort(), ['us-east-1a', 'us-east-1b', 'us-east-1c']);
  t.is(new Set(subnets.map((s) => s.cidrBlock)).size, 12);
  t.true(subnets.every((s) => s.mapPublicIpOnLaunch === false && s.cidrBlock.startsWith('10.40.')));
  t.is(ofType(run, 'aws:ec2/natGateway:NatGateway').length, 3);
  const routes = ofType(run, 'aws:ec2/routeTable:RouteTable').map(inputsOf);
  t.is(routes.filter((r) => r.routes[0].natGatewayId).length, 3);
});

test(`${M}: Nomad clients accept 4646-4648 only from the VPC and SSH reruns 64535-65535 only from the configured CIDR`, (t) => {
  const nomadSg = one(run, SG, 'fleet-firewall-nomad-clients').id;
  const rules = ofType(run, INGRESS)
    .map(inputsOf)
    .filter((r) => r.securityGroupId === nomadSg);
  const nomad = rules.filter((r) => r.fromPort === 4646);
  t.deepEqual(nomad.map((r) => [r.ipProtocol, r.toPort, r.cidrIpv4]).sort(), [
    ['tcp', 4648, VPC],
    ['udp', 4648, VPC],
  ]);
  const rerun = rules.filter((r) => r.fromPort === 64535);
  t.deepEqual(
    rerun.map((r) => [r.toPort, r.cidrIpv4]),
    [[65535, OFFICE]],
  );
  t.is(rules.length, 3, 'nothing else is open on the Nomad clients');
});

test(`${M}: VMs take 22 and 2376 only from the Nomad clients' group, 54782 only from the SSH-rerun CIDR; nothing is open to 0.0.0.0/0`, (t) => {
  const nomadSg = one(run, SG, 'fleet-firewall-nomad-clients').id;
  const vmSg = one(run, SG, 'fleet-firewall-vm-service-vms').id;
  const rules = ofType(run, INGRESS)
    .map(inputsOf)
    .filter((r) => r.securityGroupId === vmSg);
  const byPort = Object.fromEntries(rules.map((r) => [r.fromPort, r]));
  t.deepEqual(Object.keys(byPort).map(Number).sort(), [22, 2376, 54782]);
  t.is(byPort[22].referencedSecurityGroupId, nomadSg);
  t.is(byPort[2376].referencedSecurityGroupId, nomadSg);
  t.is(byPort[22].cidrIpv4, undefined);
  t.is(byPort[54782].cidrIpv4, OFFICE);
  t.false(ofType(run, INGRESS).some((r) => inputsOf(r).cidrIpv4 === '0.0.0.0/0'));
});

test(`${M}: the VM-service role carries the operations guide's EC2 policy with ManagedBy conditions, its security group and VPC`, (t) => {
  const vmSg = one(run, SG, 'fleet-firewall-vm-service-vms').id;
  const ec2 = (r: string) => `arn:aws:ec2:*:*:${r}`;
  const managed = { 'aws:RequestTag/ManagedBy': 'circleci-vm-service' };
  const guide = [
    {
      Action: 'ec2:RunInstances',
      Effect: 'Allow',
      Resource: [
        ...[
          'image',
          'snapshot',
          'key-pair',
          'launch-template',
          'network-interface',
          'placement-group',
          'volume',
          'subnet',
        ].map((r) => ec2(`${r}/*`)),
        ec2(`security-group/${vmSg}`),
      ],
    },
    { Action: 'ec2:RunInstances', Effect: 'Allow', Resource: ec2('instance/*'), Condition: { StringEquals: managed } },
    {
      Action: ['ec2:CreateVolume'],
      Effect: 'Allow',
      Resource: [ec2('volume/*')],
      Condition: { StringEquals: managed },
    },
    { Action: ['ec2:Describe*'], Effect: 'Allow', Resource: '*' },
    {
      Effect: 'Allow',
      Action: ['ec2:CreateTags'],
      Resource: ec2('*/*'),
      Condition: { StringEquals: { 'ec2:CreateAction': 'CreateVolume' } },
    },
    {
      Effect: 'Allow',
      Action: ['ec2:CreateTags'],
      Resource: ec2('*/*'),
      Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    },
    {
      Action: [
        'ec2:CreateTags',
        'ec2:StartInstances',
        'ec2:StopInstances',
        'ec2:TerminateInstances',
        'ec2:AttachVolume',
        'ec2:DetachVolume',
        'ec2:DeleteVolume',
      ],
      Effect: 'Allow',
      Resource: ec2('*/*'),
      Condition: { StringEquals: { 'ec2:ResourceTag/ManagedBy': 'circleci-vm-service' } },
    },
    {
      Action: ['ec2:RunInstances', 'ec2:StartInstances', 'ec2:StopInstances', 'ec2:TerminateInstances'],
      Effect: 'Allow',
      Resource: ec2('subnet/*'),
      Condition: { StringEquals: { 'ec2:Vpc': `arn:aws:ec2:us-east-1:${ACCOUNT}:vpc/network_id` } },
    },
  ];
  t.deepEqual(statements('vm-service'), guide);
});

test(`${M}: every identity is IRSA-bound to its own service account; runtime roles get least privilege`, (t) => {
  const expected: Record<string, string> = {
    api: 'roundhouse:api',
    conductor: 'roundhouse:conductor',
    dispatcher: 'roundhouse:dispatcher',
    output: 'roundhouse:output',
    'vm-service': 'roundhouse:vm-service',
    velero: 'velero:velero',
    'nomad-autoscaler': 'roundhouse:nomad-autoscaler',
  };
  const issuer = 'oidc.eks.us-east-1.amazonaws.com/id/ABC123';
  for (const [id, sa] of Object.entries(expected)) {
    const [trust] = docOf(one(run, 'aws:iam/role:Role', `identity-${id}`), 'assumeRolePolicy').Statement;
    t.is(trust.Action, 'sts:AssumeRoleWithWebIdentity', id);
    t.is(trust.Principal.Federated, `arn:aws:iam::${ACCOUNT}:oidc-provider/${issuer}`, id);
    t.deepEqual(
      trust.Condition.StringEquals,
      { [`${issuer}:sub`]: `system:serviceaccount:${sa}`, [`${issuer}:aud`]: 'sts.amazonaws.com' },
      id,
    );
  }
  t.deepEqual(actionsOf(statements('dispatcher')), ['kms:Decrypt']);
  t.false(actionsOf(statements('api')).includes('s3:DeleteObject'), 'api only reads outputs');
  t.false(
    actionsOf(statements('conductor')).some((a: string) => a === 's3:GetObject'),
    'conductor only appends audit events',
  );
  const output = statements('output');
  t.true(
    output.some(
      (x) =>
        x.Resource === 'arn:aws:s3:::roundhouse-123456789012-aws-staging-caches/*' &&
        x.Action.includes('s3:DeleteObject'),
    ),
  );
  t.false(JSON.stringify(output).includes('keys-secrets_id'), 'output never touches the secrets key');
  t.false(JSON.stringify(statements('api')).includes('-backups'), 'only Velero reaches the backups bucket');
});

test(`${M}: Velero gets the guide's policy on the backups bucket; the autoscaler can change only the Nomad client group`, (t) => {
  const velero = statements('velero');
  t.deepEqual(velero[0].Action, [
    'ec2:DescribeVolumes',
    'ec2:DescribeSnapshots',
    'ec2:CreateTags',
    'ec2:CreateVolume',
    'ec2:CreateSnapshot',
    'ec2:DeleteSnapshot',
  ]);
  t.is(velero[1].Resource, 'arn:aws:s3:::roundhouse-123456789012-aws-staging-backups/*');
  t.is(velero[2].Resource, 'arn:aws:s3:::roundhouse-123456789012-aws-staging-backups');
  const scaler = statements('nomad-autoscaler');
  const writes = scaler.find((x) => x.Action.includes('autoscaling:UpdateAutoScalingGroup'))!;
  t.is(
    writes.Resource,
    `arn:aws:autoscaling:us-east-1:${ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/roundhouse-aws-staging-nomad-clients`,
  );
  const unscoped = scaler.filter((x) => x.Resource === '*').flatMap((x) => x.Action);
  t.true(
    unscoped.every((a: string) => a.includes(':Describe')),
    'only describes are unscoped',
  );
});

test(`${M}: four private buckets, SSE-KMS with the storage key, TLS only; audit and backups versioned; expiry from the setting`, (t) => {
  const buckets = ofType(run, 'aws:s3/bucket:Bucket').map(inputsOf);
  t.deepEqual(buckets.map((b) => b.bucket).sort(), [
    'roundhouse-123456789012-aws-staging-audit',
    'roundhouse-123456789012-aws-staging-backups',
    'roundhouse-123456789012-aws-staging-caches',
    'roundhouse-123456789012-aws-staging-outputs',
  ]);
  for (const p of ofType(run, 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock').map(inputsOf))
    t.true(p.blockPublicAcls && p.blockPublicPolicy && p.ignorePublicAcls && p.restrictPublicBuckets);
  const storageKey = `arn:aws:kms:us-east-1:${ACCOUNT}:key/keys-storage_id`;
  for (const e of ofType(
    run,
    'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
  ).map(inputsOf))
    t.deepEqual(e.rules[0].applyServerSideEncryptionByDefault, { sseAlgorithm: 'aws:kms', kmsMasterKeyId: storageKey });
  for (const r of ofType(run, 'aws:s3/bucketPolicy:BucketPolicy')) {
    const [deny] = docOf(r, 'policy').Statement;
    t.is(deny.Effect, 'Deny');
    t.deepEqual(deny.Condition, { Bool: { 'aws:SecureTransport': 'false' } });
  }
  t.deepEqual(
    ofType(run, 'aws:s3/bucketVersioning:BucketVersioning')
      .map((r) => r.name)
      .sort(),
    ['storage-audit', 'storage-backups'],
  );
  const expiry = (purpose: string) =>
    inputsOf(
      one(run, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration', `storage-${purpose}`),
    ).rules.find((r: Statement) => r.id === 'storage-object-expiry')?.expiration.days;
  t.is(expiry('outputs'), 30);
  t.is(expiry('caches'), 30);
  t.is(expiry('audit'), undefined);
  t.is(expiry('backups'), undefined);
});

test(`${M}: KMS keys rotate; EKS has a private endpoint, public only for the authorized CIDR, and encrypted secrets`, (t) => {
  const keys = ofType(run, 'aws:kms/key:Key').map(inputsOf);
  t.is(keys.length, 2);
  t.true(keys.every((k) => k.enableKeyRotation === true));
  const eks = inputsOf(one(run, 'aws:eks/cluster:Cluster', 'cluster'));
  t.is(eks.name, 'roundhouse-aws-staging');
  t.is(eks.version, '1.31');
  t.true(eks.vpcConfig.endpointPrivateAccess);
  t.true(eks.vpcConfig.endpointPublicAccess);
  t.deepEqual(eks.vpcConfig.publicAccessCidrs, [OFFICE]);
  t.deepEqual(eks.encryptionConfig, {
    resources: ['secrets'],
    provider: { keyArn: `arn:aws:kms:us-east-1:${ACCOUNT}:key/keys-secrets_id` },
  });
  t.deepEqual(eks.vpcConfig.subnetIds.length, 3);
  const nodes = inputsOf(one(run, 'aws:eks/nodeGroup:NodeGroup', 'cluster-nodes'));
  t.deepEqual(nodes.scalingConfig, { minSize: 3, desiredSize: 3, maxSize: 6 });
  t.deepEqual(nodes.instanceTypes, ['m6i.xlarge']);
});

test(`${M}: the Nomad launch template requires IMDSv2, has no public IP, an encrypted disk, and the startup script`, (t) => {
  const lt = inputsOf(one(run, 'aws:ec2/launchTemplate:LaunchTemplate', 'nomad-clients-template'));
  t.deepEqual(lt.metadataOptions, { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 1 });
  t.is(lt.networkInterfaces[0].associatePublicIpAddress, 'false');
  t.is(lt.networkInterfaces[0].securityGroups[0], one(run, SG, 'fleet-firewall-nomad-clients').id);
  t.is(lt.blockDeviceMappings[0].ebs.encrypted, 'true');
  t.is(lt.blockDeviceMappings[0].ebs.volumeSize, 100);
  t.is(lt.instanceType, 't3a.2xlarge');
  const script = Buffer.from(lt.userData, 'base64').toString();
  t.regex(script, /servers\s+= \["nomad\.ci-staging\.example\.com:4647"\]/);
  t.regex(script, /node_class = "linux-64bit"/);
  t.regex(script, /"userns-remap": "default"/);
  t.regex(script, /cores\s+= "0-1"\n\s+memory = 4096/, '2 vCPU and 4 GB reserved for coordination');
  t.regex(script, /"roundhouse\.job_vcpus"\s+= "6"/, 't3a.2xlarge: 8 vCPU, 6 for jobs');
  t.regex(script, /"roundhouse\.job_memory_gb" = "28"/);
  t.regex(script, /iptables -A DOCKER-USER -i docker\+ -d 169\.254\.0\.0\/16 -j DROP/);
  t.regex(
    script,
    /iptables -A DOCKER-USER -d 10\.40\.0\.2\/32 -p udp --dport 53 -j RETURN/,
    'the VPC resolver stays reachable',
  );
  t.regex(script, /-d 10\.40\.64\.0\/20 -j DROP/, 'jobs cannot reach the cluster subnets');
  t.regex(script, /verify_server_hostname = true/);
  t.true(script.includes('-----BEGIN CERTIFICATE nomad-tls-ca-----'), 'the generated CA is installed');
  t.true(script.includes('-----BEGIN PRIVATE KEY nomad-tls-client-----'), 'the generated client key is installed');
  t.regex(script, /X-aws-ec2-metadata-token-ttl-seconds/, 'the script itself uses IMDSv2');
});

test(`${M}: the Nomad client group autoscales between the configured sizes across the nomad subnets`, (t) => {
  const asg = inputsOf(one(run, 'aws:autoscaling/group:Group', 'nomad-clients-asg'));
  t.is(asg.name, 'roundhouse-aws-staging-nomad-clients');
  t.is(asg.minSize, 1);
  t.is(asg.maxSize, 5);
  t.deepEqual(asg.launchTemplate, { id: 'nomad-clients-template_id', version: '$Latest' });
  t.deepEqual(asg.vpcZoneIdentifiers, [
    'network-nomad-us-east-1a_id',
    'network-nomad-us-east-1b_id',
    'network-nomad-us-east-1c_id',
  ]);
  t.true(
    asg.tags.some((x: Statement) => x.key === 'ManagedBy' && x.value === 'roundhouse-stacks' && x.propagateAtLaunch),
  );
});

test(`${M}: RDS PostgreSQL is private, encrypted with the storage key, deletion-protected, and reachable only from the cluster subnets`, (t) => {
  const db = inputsOf(one(run, 'aws:rds/instance:Instance', 'database-instance'));
  t.is(db.engine, 'postgres');
  t.is(db.engineVersion, '15');
  t.false(db.publiclyAccessible);
  t.true(db.storageEncrypted);
  t.is(db.kmsKeyId, `arn:aws:kms:us-east-1:${ACCOUNT}:key/keys-storage_id`);
  t.true(db.deletionProtection);
  t.is(db.password.length, 40);
  const dbSg = one(run, SG, 'database-sg').id;
  const rules = ofType(run, INGRESS)
    .map(inputsOf)
    .filter((r) => r.securityGroupId === dbSg);
  t.deepEqual(rules.map((r) => [r.fromPort, r.cidrIpv4]).sort(), [
    [5432, '10.40.64.0/20'],
    [5432, '10.40.80.0/20'],
    [5432, '10.40.96.0/20'],
  ]);
});

test(`${M}: Flux follows this repository at charts-ts/dist/aws-staging and substitutes the stack outputs`, (t) => {
  const git = inputsOf(one(run, 'kubernetes:source.toolkit.fluxcd.io/v1:GitRepository', 'flux-source'));
  const ks = inputsOf(one(run, 'kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization', 'flux-kustomization'));
  t.notThrows(() => new GitRepository(git as never).validate());
  t.notThrows(() => new Kustomization(ks as never).validate());
  t.is(git.spec.url, 'https://github.com/example/roundhouse.git');
  t.deepEqual(git.spec.ref, { branch: 'main' });
  t.is(ks.spec.path, './charts-ts/dist/aws-staging');
  t.true(ks.spec.prune);
  t.deepEqual(ks.spec.postBuild.substituteFrom, [
    { kind: 'ConfigMap', name: 'roundhouse-stack-outputs' },
    { kind: 'Secret', name: 'roundhouse-stack-secrets' },
  ]);
  const cm = inputsOf(one(run, 'kubernetes:core/v1:ConfigMap', 'flux-outputs'));
  t.notThrows(() => new ConfigMap(cm as never).validate());
  t.is(cm.metadata.namespace, 'flux-system');
  t.is(cm.data.ROUNDHOUSE_OBJECTS_BUCKET, 'roundhouse-123456789012-aws-staging-outputs');
  t.is(cm.data.ROUNDHOUSE_OBJECTS_REGION, 'us-east-1');
  t.is(cm.data.ROUNDHOUSE_OBJECTS_ENDPOINT, 'https://s3.us-east-1.amazonaws.com');
  t.is(cm.data.ROUNDHOUSE_OBJECT_EXPIRY_DAYS, '30');
  t.is(cm.data.ROUNDHOUSE_SECRETS_PROVIDER, 'aws-kms');
  t.is(cm.data.ROUNDHOUSE_IDENTITY_OUTPUT, `arn:aws:iam::${ACCOUNT}:role/roundhouse-aws-staging-output`);
  t.is(cm.data.VM_SERVICE_SECURITY_GROUP, one(run, SG, 'fleet-firewall-vm-service-vms').id);
  t.is(cm.data.DATABASE_HOST, 'roundhouse.abc.us-east-1.rds.amazonaws.com');
  const secret = inputsOf(one(run, 'kubernetes:core/v1:Secret', 'flux-secrets'));
  t.notThrows(() => new Secret(secret as never).validate());
  t.regex(
    secret.stringData.DATABASE_URL,
    /^postgres:\/\/roundhouse:[^@]{40}@roundhouse\.abc\.us-east-1\.rds\.amazonaws\.com:5432\/roundhouse\?sslmode=require$/,
  );
  t.true(
    Buffer.from(secret.stringData.NOMAD_TLS_SERVER_KEY_B64, 'base64')
      .toString()
      .startsWith('-----BEGIN PRIVATE KEY nomad-tls-server'),
  );
  t.false(
    Object.values(cm.data).some((v) => String(v).includes('PRIVATE KEY')),
    'no secret in the ConfigMap',
  );
});

test(`${M}: every CrossGuard rule passes on every resource of the run`, (t) => {
  t.deepEqual(violationsOf(run, RESOURCE_RULES, STACK_RULES), []);
});
