/**
 * GKE (regional, Standard mode: the operations guide rules out Autopilot) for the Roundhouse services:
 * private nodes, the control plane reachable publicly only from authorized networks (private endpoint
 * only when none are listed), Workload Identity, application-layer secrets encryption with the secrets
 * key, Dataplane V2 for network policies, and a node pool with its own least-privilege service account.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { GKE_NODE_ROLES } from '../../policies/gcp-iam.js';
import { computed, gcpLabels } from '../common.js';

export interface GkeClusterArgs {
  readonly environment: string;
  readonly project: string;
  readonly region: string;
  readonly zones: readonly string[];
  readonly clusterName: string;
  readonly kubernetesVersion: string;
  readonly networkId: pulumi.Input<string>;
  readonly subnetworkId: pulumi.Input<string>;
  readonly masterCidr: string;
  readonly vpcCidr: string;
  readonly authorizedCidrs: readonly string[];
  readonly nodeType: string;
  readonly nodeCount: number;
  readonly nodeMax: number;
  readonly secretsKeyId: string;
  readonly storageKeyId: string;
  readonly dependsOn: pulumi.Resource[];
}

export const saEmail = (accountId: string, project: string) => `${accountId}@${project}.iam.gserviceaccount.com`;

export class GkeCluster extends pulumi.ComponentResource {
  readonly name: string;
  readonly endpoint: pulumi.Output<string>;
  readonly caData: pulumi.Output<string>;

  constructor(name: string, args: GkeClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:gcp:Cluster', name, {}, opts);
    const parent = { parent: this };
    const env = args.environment;

    const nodeAccount = `${env}-gke-node`;
    const nodeSa = new gcp.serviceaccount.Account(
      `${name}-node`,
      { accountId: nodeAccount, displayName: `Roundhouse ${env} GKE nodes`, project: args.project },
      parent,
    );
    const nodeEmail = saEmail(nodeAccount, args.project);
    for (const role of GKE_NODE_ROLES) {
      new gcp.projects.IAMMember(
        `${name}-node-${role.split('/')[1]}`,
        { project: args.project, role, member: `serviceAccount:${nodeEmail}` },
        { ...parent, dependsOn: [nodeSa] },
      );
    }

    const privateOnly = args.authorizedCidrs.length === 0;
    const cluster = new gcp.container.Cluster(
      name,
      {
        name: args.clusterName,
        location: args.region,
        ...(args.zones.length ? { nodeLocations: [...args.zones] } : {}),
        network: args.networkId,
        subnetwork: args.subnetworkId,
        minMasterVersion: args.kubernetesVersion,
        releaseChannel: { channel: 'REGULAR' },
        // The default pool cannot be configured as below; GKE needs one at creation, then it goes.
        removeDefaultNodePool: true,
        initialNodeCount: 1,
        ipAllocationPolicy: { clusterSecondaryRangeName: 'pods', servicesSecondaryRangeName: 'services' },
        privateClusterConfig: {
          enablePrivateNodes: true,
          enablePrivateEndpoint: privateOnly,
          masterIpv4CidrBlock: args.masterCidr,
        },
        masterAuthorizedNetworksConfig: {
          cidrBlocks: (privateOnly ? [args.vpcCidr] : [...args.authorizedCidrs]).map((cidrBlock, i) => ({
            cidrBlock,
            displayName: privateOnly ? 'vpc' : `authorized-${i}`,
          })),
        },
        workloadIdentityConfig: { workloadPool: `${args.project}.svc.id.goog` },
        databaseEncryption: { state: 'ENCRYPTED', keyName: args.secretsKeyId },
        datapathProvider: 'ADVANCED_DATAPATH',
        enableShieldedNodes: true,
        deletionProtection: true,
        resourceLabels: gcpLabels(env),
      },
      { ...parent, dependsOn: args.dependsOn },
    );

    new gcp.container.NodePool(
      `${name}-nodes`,
      {
        name: `roundhouse-${env}`,
        cluster: cluster.id,
        location: args.region,
        // Regional pools count per zone; the total bounds are what the operator configured.
        initialNodeCount: 1,
        autoscaling: { totalMinNodeCount: args.nodeCount, totalMaxNodeCount: args.nodeMax, locationPolicy: 'BALANCED' },
        management: { autoRepair: true, autoUpgrade: true },
        nodeConfig: {
          machineType: args.nodeType,
          serviceAccount: nodeEmail,
          oauthScopes: ['https://www.googleapis.com/auth/cloud-platform'],
          // Pods see only their own Workload Identity, never the node's metadata or credentials.
          workloadMetadataConfig: { mode: 'GKE_METADATA' },
          shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
          bootDiskKmsKey: args.storageKeyId,
          diskType: 'pd-balanced',
          diskSizeGb: 100,
          metadata: { 'disable-legacy-endpoints': 'true' },
          resourceLabels: gcpLabels(env),
        },
      },
      { ...parent, ignoreChanges: ['initialNodeCount'] },
    );

    this.name = args.clusterName;
    this.endpoint = computed(cluster.endpoint, '').apply((e) => (e ? `https://${e}` : ''));
    this.caData = computed(
      cluster.masterAuth.apply((m) => m?.clusterCaCertificate),
      '',
    );
    this.registerOutputs({ name: this.name, endpoint: this.endpoint });
  }
}
