/**
 * Stack configuration: every key the program reads, its default and bounds, validated once before any
 * resource is declared and then frozen. All problems are reported together, each naming its key.
 *
 * Values arrive as strings (that is how the Pulumi engine hands stack config to a program); lists may be
 * YAML lists (the engine passes them as JSON) or comma-separated strings.
 */
import { isWorldOpen, overlaps, parseCidr } from './cidr.js';
import { awsMachineSize, gcpMachineSize, jobCapacity, type MachineSize } from './sizing.js';

export type Cloud = 'aws' | 'gcp';
export type DatabaseMode = 'managed' | 'in-cluster';

export interface Settings {
  readonly cloud: Cloud;
  /** Environment name: resource names, tags, and the `charts-ts/dist/<environment>` path. */
  readonly environment: string;
  readonly region: string;
  /** AWS: availability zones of the subnets. GCP: node and instance zones ([] = the whole region). */
  readonly zones: readonly string[];
  readonly aws?: { readonly accountId: string; readonly partition: string };
  readonly gcp?: { readonly project: string; readonly projectNumber: string; readonly masterCidr: string };
  readonly domain: string;
  readonly vpcCidr: string;
  readonly kubernetesVersion: string;
  readonly cluster: {
    readonly nodeType: string;
    readonly nodeCount: number;
    readonly nodeMax: number;
    readonly authorizedCidrs: readonly string[];
  };
  readonly storage: { readonly bucketPrefix: string; readonly objectExpiryDays: number };
  readonly nomad: {
    readonly serverAddress: string;
    readonly machineType: string;
    readonly size: MachineSize;
    readonly jobCapacity: MachineSize;
    readonly min: number;
    readonly max: number;
    readonly diskGb: number;
    readonly image: string;
    readonly dockerNetworkCidr: string;
    readonly sshRerunCidrs: readonly string[];
  };
  readonly database: {
    readonly mode: DatabaseMode;
    readonly instanceClass: string;
    readonly storageGb: number;
    readonly version: string;
    readonly highAvailability: boolean;
  };
  readonly flux: {
    readonly gitUrl: string;
    readonly gitBranch: string;
    readonly gitSecretName?: string;
    readonly chartVersion: string;
  };
}

/** One documented key; the operator guide lists exactly these (a test checks it). */
export interface KeyDoc {
  readonly key: string;
  readonly clouds: readonly Cloud[];
  readonly description: string;
  readonly default: string;
  readonly bounds?: string;
}

const BOTH: readonly Cloud[] = ['aws', 'gcp'];
const AWS: readonly Cloud[] = ['aws'];
const GCP: readonly Cloud[] = ['gcp'];

export const DEFAULTS = {
  vpcCidr: '10.40.0.0/16',
  kubernetesVersion: '1.31',
  clusterNodeType: { aws: 'm6i.xlarge', gcp: 'n2-standard-4' },
  clusterNodeCount: 3,
  clusterNodeMax: 6,
  gkeMasterCidr: '172.16.0.32/28',
  objectExpiryDays: 30,
  nomadClientMachineType: { aws: 't3a.2xlarge', gcp: 'n2-standard-8' },
  nomadClientMin: 1,
  nomadClientMax: 5,
  nomadClientDiskGb: 100,
  nomadClientImage: {
    // Resolved by EC2 at launch from Canonical's public SSM parameter: no AMI lookup while planning.
    aws: 'resolve:ssm:/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id',
    gcp: 'ubuntu-os-cloud/ubuntu-2204-lts',
  },
  nomadDockerNetworkCidr: '10.10.0.0/16',
  databaseInstanceClass: { aws: 'db.t4g.medium', gcp: 'db-custom-2-7680' },
  databaseStorageGb: 50,
  databaseVersion: '15',
  gitBranch: 'main',
  fluxChartVersion: '2.16.2',
} as const;

export const CONFIG_KEYS: readonly KeyDoc[] = [
  {
    key: 'roundhouse:cloud',
    clouds: BOTH,
    description: 'Which composition to run.',
    default: '(required)',
    bounds: '`aws` or `gcp`',
  },
  {
    key: 'aws:region',
    clouds: AWS,
    description: 'AWS region of every resource.',
    default: '(required)',
    bounds: 'e.g. `us-east-1`, `eu-west-2`, `us-gov-west-1`',
  },
  {
    key: 'gcp:project',
    clouds: GCP,
    description: 'GCP project id.',
    default: '(required)',
    bounds: '6–30 characters, lowercase',
  },
  {
    key: 'gcp:region',
    clouds: GCP,
    description: 'GCP region of every resource.',
    default: '(required)',
    bounds: 'e.g. `us-central1`, `europe-west4`',
  },
  {
    key: 'roundhouse:awsAccountId',
    clouds: AWS,
    description: 'Account the stack must run in; the provider refuses any other, and ARNs are built from it.',
    default: '(required)',
    bounds: '12 digits',
  },
  {
    key: 'roundhouse:gcpProjectNumber',
    clouds: GCP,
    description: "The project's number, which names Google's service agents (CMEK grants).",
    default: '(required)',
    bounds: 'digits',
  },
  {
    key: 'roundhouse:environment',
    clouds: BOTH,
    description: 'Environment name: resource names, tags, `charts-ts/dist/<environment>`.',
    default: 'the stack name',
    bounds: '`[a-z][a-z0-9-]*`, 3–16 characters',
  },
  {
    key: 'roundhouse:domain',
    clouds: BOTH,
    description: 'Host name users reach Roundhouse at.',
    default: '(required)',
    bounds: 'a DNS name',
  },
  {
    key: 'roundhouse:zones',
    clouds: BOTH,
    description: 'AWS: availability zones for the subnets. GCP: zones for nodes and Nomad clients.',
    default: 'AWS `<region>a,b,c`; GCP the whole region',
    bounds: 'AWS 2–4 zones of the region; GCP 0–4',
  },
  {
    key: 'roundhouse:vpcCidr',
    clouds: BOTH,
    description: 'Address range carved into 16 equal blocks for the subnets.',
    default: DEFAULTS.vpcCidr,
    bounds: 'private IPv4, /16 to /20',
  },
  {
    key: 'roundhouse:kubernetesVersion',
    clouds: BOTH,
    description: 'Kubernetes minor version of the cluster.',
    default: DEFAULTS.kubernetesVersion,
    bounds: '1.29–1.34',
  },
  {
    key: 'roundhouse:clusterNodeType',
    clouds: BOTH,
    description: 'Machine type of the cluster nodes.',
    default: 'AWS `m6i.xlarge`; GCP `n2-standard-4`',
  },
  {
    key: 'roundhouse:clusterNodeCount',
    clouds: BOTH,
    description: 'Minimum (and initial) number of cluster nodes.',
    default: String(DEFAULTS.clusterNodeCount),
    bounds: '1–50',
  },
  {
    key: 'roundhouse:clusterNodeMax',
    clouds: BOTH,
    description: 'Maximum number of cluster nodes.',
    default: String(DEFAULTS.clusterNodeMax),
    bounds: 'clusterNodeCount–100',
  },
  {
    key: 'roundhouse:clusterAuthorizedCidrs',
    clouds: BOTH,
    description:
      'Networks that may reach the Kubernetes API from outside the VPC; empty means a private endpoint only.',
    default: '[]',
    bounds: 'IPv4 CIDRs, never 0.0.0.0/0',
  },
  {
    key: 'roundhouse:gkeMasterCidr',
    clouds: GCP,
    description: "The GKE control plane's private range.",
    default: DEFAULTS.gkeMasterCidr,
    bounds: 'a /28 outside vpcCidr',
  },
  {
    key: 'roundhouse:bucketPrefix',
    clouds: BOTH,
    description: 'Prefix of the four bucket names (`<prefix>-outputs`, `-caches`, `-audit`, `-backups`).',
    default: 'AWS `roundhouse-<account>-<environment>`; GCP `<project>-<environment>`',
    bounds: 'lowercase, digits, `-`; at most 55 characters',
  },
  {
    key: 'roundhouse:objectExpiryDays',
    clouds: BOTH,
    description:
      'Storage object expiry: days to keep outputs, artifacts, test results, caches and workspaces; 0 keeps them forever.',
    default: String(DEFAULTS.objectExpiryDays),
    bounds: '0–3650',
  },
  {
    key: 'roundhouse:nomadServerAddress',
    clouds: BOTH,
    description: 'Address Nomad clients join (the Nomad servers behind an internal load balancer).',
    default: '`nomad.<domain>:4647`',
    bounds: '`host:port`',
  },
  {
    key: 'roundhouse:nomadClientMachineType',
    clouds: BOTH,
    description: 'Machine type of the Nomad clients.',
    default: 'AWS `t3a.2xlarge`; GCP `n2-standard-8`',
    bounds: 'more than 2 vCPU / 4 GB, at most 64 vCPU / 128 GB',
  },
  {
    key: 'roundhouse:nomadClientVcpus',
    clouds: BOTH,
    description: 'vCPUs of the machine type, for types the planner cannot read from the name.',
    default: 'read from the type name',
    bounds: '3–64',
  },
  {
    key: 'roundhouse:nomadClientMemoryGb',
    clouds: BOTH,
    description: 'Memory of the machine type in GB, as above.',
    default: 'read from the type name',
    bounds: '5–128',
  },
  {
    key: 'roundhouse:nomadClientMin',
    clouds: BOTH,
    description: 'Fewest Nomad clients (the autoscaler never goes below).',
    default: String(DEFAULTS.nomadClientMin),
    bounds: '0–500',
  },
  {
    key: 'roundhouse:nomadClientMax',
    clouds: BOTH,
    description: 'Most Nomad clients.',
    default: String(DEFAULTS.nomadClientMax),
    bounds: 'max(1, nomadClientMin)–500',
  },
  {
    key: 'roundhouse:nomadClientDiskGb',
    clouds: BOTH,
    description: 'Root disk of each Nomad client (gp3 / pd-ssd, encrypted).',
    default: String(DEFAULTS.nomadClientDiskGb),
    bounds: '30–2000',
  },
  {
    key: 'roundhouse:nomadClientImage',
    clouds: BOTH,
    description: 'Ubuntu 22.04 image of the Nomad clients.',
    default: "AWS Canonical's SSM parameter; GCP `ubuntu-os-cloud/ubuntu-2204-lts`",
  },
  {
    key: 'roundhouse:nomadDockerNetworkCidr',
    clouds: BOTH,
    description: 'Address pool of the job containers on each client.',
    default: DEFAULTS.nomadDockerNetworkCidr,
    bounds: 'outside vpcCidr',
  },
  {
    key: 'roundhouse:sshRerunCidrs',
    clouds: BOTH,
    description: 'Who may reach "rerun job with SSH" ports (64535–65535 on clients, 54782 on VMs).',
    default: 'vpcCidr only (e.g. through a VPN)',
    bounds: 'IPv4 CIDRs',
  },
  {
    key: 'roundhouse:database',
    clouds: BOTH,
    description: '`managed` (RDS / Cloud SQL PostgreSQL) or `in-cluster` (the charts run PostgreSQL).',
    default: 'managed',
    bounds: '`managed` or `in-cluster`',
  },
  {
    key: 'roundhouse:databaseInstanceClass',
    clouds: BOTH,
    description: 'Managed database size.',
    default: 'AWS `db.t4g.medium`; GCP `db-custom-2-7680`',
  },
  {
    key: 'roundhouse:databaseStorageGb',
    clouds: BOTH,
    description: 'Managed database storage.',
    default: String(DEFAULTS.databaseStorageGb),
    bounds: '20–16384',
  },
  {
    key: 'roundhouse:databaseVersion',
    clouds: BOTH,
    description: 'PostgreSQL major version.',
    default: DEFAULTS.databaseVersion,
    bounds: '`15` or `16`',
  },
  {
    key: 'roundhouse:databaseHighAvailability',
    clouds: BOTH,
    description: 'Multi-AZ RDS / regional Cloud SQL.',
    default: 'false',
    bounds: '`true` or `false`',
  },
  {
    key: 'roundhouse:gitUrl',
    clouds: BOTH,
    description: 'This repository, as Flux clones it.',
    default: '(required)',
    bounds: '`https://` or `ssh://`',
  },
  { key: 'roundhouse:gitBranch', clouds: BOTH, description: 'Branch Flux follows.', default: DEFAULTS.gitBranch },
  {
    key: 'roundhouse:gitSecretName',
    clouds: BOTH,
    description: 'Secret in `flux-system` with the deploy key or token, for a private repository.',
    default: '(none: public repository)',
  },
  {
    key: 'roundhouse:fluxChartVersion',
    clouds: BOTH,
    description: "Version of the Flux community Helm chart installing Flux's controllers.",
    default: DEFAULTS.fluxChartVersion,
    bounds: '`x.y.z`',
  },
];

/** Reads one `namespace:key`; undefined when unset. */
export type ConfigReader = (key: string) => string | undefined;

export class StackConfigError extends Error {
  readonly code = 'RH_STACK_CONFIG_INVALID';
  constructor(
    readonly stackName: string,
    readonly problems: readonly string[],
  ) {
    super(
      `Invalid configuration of stack ${stackName} (Pulumi.${stackName}.yaml); fix with \`pulumi config set <key> <value>\`:\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'StackConfigError';
  }
}

const AWS_REGION =
  /^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov)?-(north|south|east|west|central|northeast|southeast|northwest|southwest)-\d$/;
const GCP_REGION = /^[a-z]+-[a-z]+\d+$/;
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly read: ConfigReader) {}

  raw(key: string): string | undefined {
    const v = this.read(key);
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  str(key: string, fallback: string | undefined, check?: (v: string) => string | undefined): string {
    const v = this.raw(key) ?? fallback;
    if (v === undefined) {
      this.problems.push(`${key} is required`);
      return '';
    }
    const why = check?.(v);
    if (why) this.problems.push(`${key}: ${JSON.stringify(v)} ${why}`);
    return v;
  }

  int(key: string, fallback: number, min: number, max: number): number {
    const v = this.raw(key);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n)) {
      this.problems.push(`${key}: ${JSON.stringify(v)} is not a whole number`);
      return fallback;
    }
    if (n < min || n > max) this.problems.push(`${key}: ${n} is out of range (${min}–${max})`);
    return n;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return fallback;
    if (v === 'true' || v === 'false') return v === 'true';
    this.problems.push(`${key}: ${JSON.stringify(v)} is not true or false`);
    return fallback;
  }

  list(key: string): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (v.startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(v);
        if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed.map((x) => x.trim());
      } catch {
        // fall through to the problem below
      }
      this.problems.push(`${key}: ${v} is not a list of strings`);
      return [];
    }
    return v
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  }

  cidrs(key: string, fallback: string[], allowWorld: boolean): string[] {
    const list = this.list(key) ?? fallback;
    for (const c of list) {
      if (!parseCidr(c)) this.problems.push(`${key}: ${JSON.stringify(c)} is not an IPv4 CIDR like 203.0.113.0/24`);
      else if (!allowWorld && isWorldOpen(c))
        this.problems.push(`${key}: 0.0.0.0/0 would open this to the internet; list the networks that need it`);
    }
    return list;
  }
}

/** Validates the whole configuration of a stack, or throws StackConfigError with every problem. */
export function readSettings(read: ConfigReader, stack: string): Settings {
  const r = new Reader(read);
  const cloudRaw = r.str('roundhouse:cloud', undefined, (v) =>
    v === 'aws' || v === 'gcp' ? undefined : 'must be aws or gcp',
  );
  if (cloudRaw !== 'aws' && cloudRaw !== 'gcp') throw new StackConfigError(stack, r.problems);
  const cloud: Cloud = cloudRaw;
  const onAws = cloud === 'aws';

  const environment = r.str('roundhouse:environment', stack, (v) =>
    /^[a-z][a-z0-9-]{1,14}[a-z0-9]$/.test(v)
      ? undefined
      : 'must be 3–16 characters of a-z, 0-9 and -, starting with a letter',
  );

  let region: string;
  let aws: Settings['aws'];
  let gcp: Settings['gcp'];
  if (onAws) {
    region = r.str('aws:region', undefined, (v) =>
      AWS_REGION.test(v) ? undefined : 'is not an AWS region (like us-east-1)',
    );
    const accountId = r.str('roundhouse:awsAccountId', undefined, (v) =>
      /^\d{12}$/.test(v) ? undefined : 'is not a 12-digit AWS account id',
    );
    aws = {
      accountId,
      partition: region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws',
    };
  } else {
    region = r.str('gcp:region', undefined, (v) =>
      GCP_REGION.test(v) ? undefined : 'is not a GCP region (like us-central1)',
    );
    const project = r.str('gcp:project', undefined, (v) =>
      /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(v) ? undefined : 'is not a GCP project id (6–30 characters: a-z, 0-9, -)',
    );
    const projectNumber = r.str('roundhouse:gcpProjectNumber', undefined, (v) =>
      /^\d{6,20}$/.test(v) ? undefined : 'is not a project number (digits)',
    );
    const masterCidr = r.str('roundhouse:gkeMasterCidr', DEFAULTS.gkeMasterCidr, (v) =>
      parseCidr(v)?.prefix === 28 ? undefined : 'must be a /28 CIDR',
    );
    gcp = { project, projectNumber, masterCidr };
  }

  const zoneList = r.list('roundhouse:zones') ?? (onAws ? ['a', 'b', 'c'].map((z) => `${region}${z}`) : []);
  const zoneRe = onAws ? new RegExp(`^${region}[a-z]$`) : new RegExp(`^${region}-[a-z]$`);
  for (const z of zoneList)
    if (!zoneRe.test(z)) r.problems.push(`roundhouse:zones: ${JSON.stringify(z)} is not a zone of ${region}`);
  if (onAws && (zoneList.length < 2 || zoneList.length > 4))
    r.problems.push(`roundhouse:zones: AWS needs 2–4 zones (EKS spans at least two), got ${zoneList.length}`);
  if (!onAws && zoneList.length > 4) r.problems.push(`roundhouse:zones: at most 4 zones, got ${zoneList.length}`);
  if (new Set(zoneList).size !== zoneList.length) r.problems.push('roundhouse:zones: a zone is listed twice');

  const domain = r.str('roundhouse:domain', undefined, (v) =>
    DNS_NAME.test(v) ? undefined : 'is not a DNS name (like ci.example.com)',
  );

  const vpcCidr = r.str('roundhouse:vpcCidr', DEFAULTS.vpcCidr, (v) => {
    const c = parseCidr(v);
    if (!c) return 'is not an IPv4 CIDR';
    if (c.prefix < 16 || c.prefix > 20) return 'must be between /16 and /20 (it is carved into 16 subnets)';
    if (!PRIVATE_RANGES.some((p) => overlaps(p, v) && (parseCidr(p)?.prefix ?? 33) <= c.prefix))
      return 'is not a private (RFC 1918) range';
    return undefined;
  });
  if (gcp && parseCidr(vpcCidr) && overlaps(gcp.masterCidr, vpcCidr))
    r.problems.push(`roundhouse:gkeMasterCidr: ${gcp.masterCidr} overlaps vpcCidr ${vpcCidr}`);

  const kubernetesVersion = r.str('roundhouse:kubernetesVersion', DEFAULTS.kubernetesVersion, (v) => {
    const m = /^1\.(\d+)$/.exec(v);
    return m && Number(m[1]) >= 29 && Number(m[1]) <= 34 ? undefined : 'must be a minor version from 1.29 to 1.34';
  });

  const nodeCount = r.int('roundhouse:clusterNodeCount', DEFAULTS.clusterNodeCount, 1, 50);
  const nodeMax = r.int('roundhouse:clusterNodeMax', Math.max(DEFAULTS.clusterNodeMax, nodeCount), nodeCount, 100);
  const cluster = {
    nodeType: r.str('roundhouse:clusterNodeType', DEFAULTS.clusterNodeType[cloud]),
    nodeCount,
    nodeMax,
    authorizedCidrs: r.cidrs('roundhouse:clusterAuthorizedCidrs', [], false),
  };

  const defaultPrefix = onAws ? `roundhouse-${aws?.accountId}-${environment}` : `${gcp?.project}-${environment}`;
  const storage = {
    bucketPrefix: r.str('roundhouse:bucketPrefix', defaultPrefix, (v) =>
      /^[a-z0-9][a-z0-9-]{1,53}[a-z0-9]$/.test(v) && !v.includes('google')
        ? undefined
        : 'must be 3–55 characters of a-z, 0-9 and - (bucket names add up to 8 more)',
    ),
    objectExpiryDays: r.int('roundhouse:objectExpiryDays', DEFAULTS.objectExpiryDays, 0, 3650),
  };

  const machineType = r.str('roundhouse:nomadClientMachineType', DEFAULTS.nomadClientMachineType[cloud]);
  const readSize = onAws ? awsMachineSize(machineType) : gcpMachineSize(machineType);
  const vcpus =
    r.raw('roundhouse:nomadClientVcpus') === undefined
      ? readSize?.vcpus
      : r.int('roundhouse:nomadClientVcpus', 0, 3, 64);
  const memoryGb =
    r.raw('roundhouse:nomadClientMemoryGb') === undefined
      ? readSize?.memoryGb
      : r.int('roundhouse:nomadClientMemoryGb', 0, 5, 128);
  let size: MachineSize = { vcpus: 0, memoryGb: 0 };
  let capacity: MachineSize = { vcpus: 0, memoryGb: 0 };
  if (vcpus === undefined || memoryGb === undefined) {
    r.problems.push(
      `roundhouse:nomadClientMachineType: cannot tell the size of ${JSON.stringify(machineType)}; ` +
        'set roundhouse:nomadClientVcpus and roundhouse:nomadClientMemoryGb',
    );
  } else {
    size = { vcpus, memoryGb };
    const c = jobCapacity(size);
    if ('error' in c) r.problems.push(`roundhouse:nomadClientMachineType: ${machineType} has ${c.error}`);
    else capacity = c;
  }
  const nomadMin = r.int('roundhouse:nomadClientMin', DEFAULTS.nomadClientMin, 0, 500);
  const nomadMax = r.int(
    'roundhouse:nomadClientMax',
    Math.max(DEFAULTS.nomadClientMax, nomadMin),
    Math.max(1, nomadMin),
    500,
  );
  const dockerNetworkCidr = r.str('roundhouse:nomadDockerNetworkCidr', DEFAULTS.nomadDockerNetworkCidr, (v) => {
    if (!parseCidr(v)) return 'is not an IPv4 CIDR';
    return parseCidr(vpcCidr) && overlaps(v, vpcCidr) ? `overlaps vpcCidr ${vpcCidr}` : undefined;
  });
  const nomad = {
    serverAddress: r.str('roundhouse:nomadServerAddress', `nomad.${domain}:4647`, (v) =>
      /^[a-z0-9.-]+:\d{2,5}$/.test(v) ? undefined : 'must be host:port (like nomad.ci.example.com:4647)',
    ),
    machineType,
    size,
    jobCapacity: capacity,
    min: nomadMin,
    max: nomadMax,
    diskGb: r.int('roundhouse:nomadClientDiskGb', DEFAULTS.nomadClientDiskGb, 30, 2000),
    image: r.str('roundhouse:nomadClientImage', DEFAULTS.nomadClientImage[cloud]),
    dockerNetworkCidr,
    sshRerunCidrs: r.cidrs('roundhouse:sshRerunCidrs', [vpcCidr], true),
  };

  const mode = r.str('roundhouse:database', 'managed', (v) =>
    v === 'managed' || v === 'in-cluster' ? undefined : 'must be managed or in-cluster',
  ) as DatabaseMode;
  const database = {
    mode,
    instanceClass: r.str('roundhouse:databaseInstanceClass', DEFAULTS.databaseInstanceClass[cloud], (v) =>
      (onAws ? /^db\.[a-z0-9]+\.[a-z0-9]+$/ : /^db-[a-z0-9-]+$/).test(v)
        ? undefined
        : `is not a ${onAws ? 'RDS' : 'Cloud SQL'} instance class`,
    ),
    storageGb: r.int('roundhouse:databaseStorageGb', DEFAULTS.databaseStorageGb, 20, 16384),
    version: r.str('roundhouse:databaseVersion', DEFAULTS.databaseVersion, (v) =>
      v === '15' || v === '16' ? undefined : 'must be 15 or 16',
    ),
    highAvailability: r.bool('roundhouse:databaseHighAvailability', false),
  };

  const gitSecretName = r.raw('roundhouse:gitSecretName');
  const flux = {
    gitUrl: r.str('roundhouse:gitUrl', undefined, (v) =>
      /^(https|ssh):\/\/[^\s]+$/.test(v) ? undefined : 'must be an https:// or ssh:// URL (Flux accepts no other)',
    ),
    gitBranch: r.str('roundhouse:gitBranch', DEFAULTS.gitBranch, (v) =>
      /^[A-Za-z0-9._/-]+$/.test(v) ? undefined : 'is not a branch name',
    ),
    ...(gitSecretName ? { gitSecretName } : {}),
    chartVersion: r.str('roundhouse:fluxChartVersion', DEFAULTS.fluxChartVersion, (v) =>
      /^\d+\.\d+\.\d+$/.test(v) ? undefined : 'must be x.y.z',
    ),
  };
  if (gitSecretName !== undefined && !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(gitSecretName))
    r.problems.push(`roundhouse:gitSecretName: ${JSON.stringify(gitSecretName)} is not a Kubernetes object name`);

  if (r.problems.length) throw new StackConfigError(stack, r.problems);
  return deepFreeze({
    cloud,
    environment,
    region,
    zones: zoneList,
    ...(aws ? { aws } : {}),
    ...(gcp ? { gcp } : {}),
    domain,
    vpcCidr,
    kubernetesVersion,
    cluster,
    storage,
    nomad,
    database,
    flux,
  });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
