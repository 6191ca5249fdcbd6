/**
 * Firewall rules of the build fleet, by network tag (the GCP twin of the AWS security groups):
 * - Nomad clients: 4646–4648 (tcp, udp) only from the VPC range; 4646 from Google's health checkers
 *   (auto-healing); "rerun with SSH" 64535–65535 only from the configured networks.
 * - VM-service VMs: 22 and 2376 only from Nomad clients (source tag); 54782 only from the configured
 *   networks.
 * A custom VPC denies all other ingress implicitly. Every rule logs.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import {
  GOOGLE_HEALTH_CHECK_RANGES,
  NOMAD_PORTS,
  SSH_RERUN_PORTS,
  VM_DOCKER_PORT,
  VM_SSH_PORT,
  VM_SSH_RERUN_PORT,
} from '../ports.js';

export interface GcpFleetFirewallArgs {
  readonly environment: string;
  readonly networkId: pulumi.Input<string>;
  readonly vpcCidr: string;
  readonly sshRerunCidrs: readonly string[];
}

export const fleetTags = (env: string) => ({ nomad: `roundhouse-${env}-nomad-client`, vm: `roundhouse-${env}-vm` });

export class GcpFleetFirewall extends pulumi.ComponentResource {
  readonly nomadTag: string;
  readonly vmTag: string;

  constructor(name: string, args: GcpFleetFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:gcp:FleetFirewall', name, {}, opts);
    const env = args.environment;
    const tags = fleetTags(env);
    this.nomadTag = tags.nomad;
    this.vmTag = tags.vm;
    const range = (p: { from: number; to: number }) => `${p.from}-${p.to}`;

    const allow = (
      id: string,
      description: string,
      allows: { protocol: string; ports: string[] }[],
      from: { sourceRanges: string[] } | { sourceTags: string[] },
      targetTag: string,
    ) =>
      new gcp.compute.Firewall(
        `${name}-${id}`,
        {
          name: `roundhouse-${env}-${id}`,
          description,
          network: args.networkId,
          direction: 'INGRESS',
          priority: 1000,
          allows,
          ...from,
          targetTags: [targetTag],
          logConfig: { metadata: 'INCLUDE_ALL_METADATA' },
        },
        { parent: this },
      );

    allow(
      'nomad-from-vpc',
      'Nomad HTTP, RPC and Serf from inside the VPC',
      ['tcp', 'udp'].map((protocol) => ({ protocol, ports: [range(NOMAD_PORTS)] })),
      { sourceRanges: [args.vpcCidr] },
      tags.nomad,
    );
    allow(
      'nomad-health-checks',
      'Auto-healing health checks of the Nomad client group',
      [{ protocol: 'tcp', ports: [String(NOMAD_PORTS.from)] }],
      { sourceRanges: [...GOOGLE_HEALTH_CHECK_RANGES] },
      tags.nomad,
    );
    allow(
      'nomad-ssh-rerun',
      'Rerun job with SSH',
      [{ protocol: 'tcp', ports: [range(SSH_RERUN_PORTS)] }],
      { sourceRanges: [...args.sshRerunCidrs] },
      tags.nomad,
    );
    allow(
      'vm-from-nomad',
      'Nomad clients drive VM jobs over SSH and reach remote Docker engines',
      [{ protocol: 'tcp', ports: [String(VM_SSH_PORT), String(VM_DOCKER_PORT)] }],
      { sourceTags: [tags.nomad] },
      tags.vm,
    );
    allow(
      'vm-ssh-rerun',
      'SSH into machine jobs',
      [{ protocol: 'tcp', ports: [String(VM_SSH_RERUN_PORT)] }],
      { sourceRanges: [...args.sshRerunCidrs] },
      tags.vm,
    );
    this.registerOutputs({ nomadTag: this.nomadTag, vmTag: this.vmTag });
  }
}
