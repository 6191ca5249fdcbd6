/**
 * Nomad client group on GCP: an instance template (no external address, shielded VM, CMEK boot disk,
 * legacy metadata endpoints off, the startup script) and a regional managed instance group auto-healed
 * by a health check on the Nomad client's health endpoint. The Nomad autoscaler owns the target size.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { NOMAD_CLIENT_ROLES } from '../../policies/gcp-iam.js';
import { gcpLabels } from '../common.js';
import type { Settings } from '../config.js';
import type { NomadTls } from '../nomad/tls.js';
import { NOMAD_PORTS } from '../ports.js';
import { saEmail } from './cluster.js';

export interface GcpNomadClientsArgs {
  readonly environment: string;
  readonly project: string;
  readonly region: string;
  readonly zones: readonly string[];
  readonly nomad: Settings['nomad'];
  readonly groupName: string;
  readonly subnetworkId: pulumi.Input<string>;
  readonly networkTag: string;
  readonly storageKeyId: string;
  readonly tls: NomadTls;
  readonly blockedCidrs: readonly string[];
  readonly dependsOn: pulumi.Resource[];
}

/** GCE's metadata server also answers DNS for the VPC. */
const GCE_DNS = '169.254.169.254';

export class GcpNomadClients extends pulumi.ComponentResource {
  readonly groupName: string;

  constructor(name: string, args: GcpNomadClientsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:gcp:NomadClients', name, {}, opts);
    const parent = { parent: this };
    const env = args.environment;
    const n = args.nomad;

    const accountId = `${env}-nomad-client`;
    const sa = new gcp.serviceaccount.Account(
      `${name}-sa`,
      { accountId, displayName: `Roundhouse ${env} Nomad clients`, project: args.project },
      parent,
    );
    const email = saEmail(accountId, args.project);
    for (const role of NOMAD_CLIENT_ROLES)
      new gcp.projects.IAMMember(
        `${name}-${role.split('/')[1]}`,
        { project: args.project, role, member: `serviceAccount:${email}` },
        { ...parent, dependsOn: [sa] },
      );

    const script = args.tls.startupScript({
      cloud: 'gcp',
      environment: env,
      serverAddress: n.serverAddress,
      datacenter: args.region,
      dockerNetworkCidr: n.dockerNetworkCidr,
      // GCE answers DNS on the metadata address: allow DNS there before dropping the rest of 169.254/16.
      blockedCidrs: args.blockedCidrs,
      dnsServer: GCE_DNS,
      jobVcpus: n.jobCapacity.vcpus,
      jobMemoryGb: n.jobCapacity.memoryGb,
    });

    const template = new gcp.compute.InstanceTemplate(
      `${name}-template`,
      {
        namePrefix: `roundhouse-${env}-nomad-`,
        machineType: n.machineType,
        disks: [
          {
            boot: true,
            autoDelete: true,
            sourceImage: n.image,
            diskType: 'pd-ssd',
            diskSizeGb: n.diskGb,
            diskEncryptionKey: { kmsKeySelfLink: args.storageKeyId },
          },
        ],
        // No accessConfigs: no external address; egress goes through Cloud NAT.
        networkInterfaces: [{ subnetwork: args.subnetworkId }],
        metadata: {
          'startup-script': script,
          'disable-legacy-endpoints': 'true',
          'block-project-ssh-keys': 'true',
          'enable-oslogin': 'TRUE',
        },
        serviceAccount: { email, scopes: ['https://www.googleapis.com/auth/cloud-platform'] },
        shieldedInstanceConfig: { enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true },
        tags: [args.networkTag],
        labels: gcpLabels(env),
      },
      // The script carries the client key (secret already, as the key's PEM is): keep the output secret too.
      { ...parent, dependsOn: [sa, ...args.dependsOn], additionalSecretOutputs: ['metadata'] },
    );

    const health = new gcp.compute.HealthCheck(
      `${name}-health`,
      {
        name: `roundhouse-${env}-nomad-client`,
        checkIntervalSec: 10,
        timeoutSec: 5,
        healthyThreshold: 2,
        unhealthyThreshold: 3,
        httpsHealthCheck: { port: NOMAD_PORTS.from, requestPath: '/v1/agent/health?type=client' },
      },
      parent,
    );

    new gcp.compute.RegionInstanceGroupManager(
      `${name}-group`,
      {
        name: args.groupName,
        region: args.region,
        baseInstanceName: `roundhouse-${env}-nomad`,
        versions: [{ name: 'primary', instanceTemplate: template.id }],
        targetSize: n.min,
        ...(args.zones.length ? { distributionPolicyZones: [...args.zones] } : {}),
        // A fresh client needs a few minutes for packages and Nomad before it can be healthy.
        autoHealingPolicies: { healthCheck: health.id, initialDelaySec: 300 },
        // Replace clients only when they are recreated anyway: a rolling replace would kill running jobs.
        updatePolicy: { type: 'OPPORTUNISTIC', minimalAction: 'REPLACE', maxSurgeFixed: 3, maxUnavailableFixed: 0 },
      },
      { ...parent, ignoreChanges: ['targetSize'] },
    );

    this.groupName = args.groupName;
    this.registerOutputs({ groupName: this.groupName });
  }
}
