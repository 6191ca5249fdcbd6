/**
 * The Nomad client startup script, one renderer for both clouds. It installs Docker (user namespaces
 * remapped) and Nomad, writes the mTLS material and the client configuration, and keeps job containers
 * away from the instance metadata endpoint and the control plane.
 *
 * Pure: takes resolved strings, returns the script. The stacks pass it as user data (AWS, run once at
 * first boot) or as the startup-script metadata (GCP, run at every boot), so every step is idempotent.
 */
import { RESERVED_MEMORY_GB, RESERVED_VCPUS } from '../sizing.js';

export interface StartupArgs {
  readonly cloud: 'aws' | 'gcp';
  readonly environment: string;
  /** `host:port` of the Nomad servers. */
  readonly serverAddress: string;
  /** Nomad node class the dispatcher targets. */
  readonly nodeClass: string;
  readonly datacenter: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Address pool of job containers (Docker `default-address-pools`). */
  readonly dockerNetworkCidr: string;
  /** Networks job containers must not reach (cluster nodes, database), besides 169.254.0.0/16. */
  readonly blockedCidrs: readonly string[];
  /** The VPC's DNS resolver, still reachable from jobs. */
  readonly dnsServer: string;
  /** vCPU and memory left for jobs (advertised as node metadata). */
  readonly jobVcpus: number;
  readonly jobMemoryGb: number;
  readonly nomadVersion: string;
}

export const NOMAD_VERSION = '1.7.7-1';
export const NODE_CLASS = 'linux-64bit';

const heredoc = (path: string, body: string, mode = '0644') =>
  `install -d -m 0755 "$(dirname ${path})"\ncat > ${path} <<'ROUNDHOUSE_EOF'\n${body.trimEnd()}\nROUNDHOUSE_EOF\nchmod ${mode} ${path}\n`;

function metadata(cloud: 'aws' | 'gcp'): string {
  if (cloud === 'aws') {
    // IMDSv2 only (the launch template requires tokens): a session token first, then the addresses.
    return [
      'IMDS_TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
      'imds() { curl -sf -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "http://169.254.169.254/latest/meta-data/$1" || true; }',
      'PRIVATE_IP=$(imds local-ipv4)',
      'PUBLIC_IP=$(imds public-ipv4)',
      'INSTANCE_ID=$(imds instance-id)',
    ].join('\n');
  }
  return [
    'gmd() { curl -sf -H "Metadata-Flavor: Google" "http://169.254.169.254/computeMetadata/v1/instance/$1" || true; }',
    'PRIVATE_IP=$(gmd network-interfaces/0/ip)',
    'PUBLIC_IP=$(gmd network-interfaces/0/access-configs/0/external-ip)',
    'INSTANCE_ID=$(gmd name)',
  ].join('\n');
}

/** HCL of the Nomad client agent. */
export function clientHcl(a: StartupArgs): string {
  return `datacenter = "${a.datacenter}"
data_dir   = "/opt/nomad/data"
log_level  = "INFO"
name       = "NODE_NAME"

advertise {
  http = "NODE_IP"
  rpc  = "NODE_IP"
  serf = "NODE_IP"
}

client {
  enabled    = true
  servers    = ["${a.serverAddress}"]
  node_class = "${a.nodeClass}"

  # Coordination reserve from the operations guide: ${RESERVED_VCPUS} vCPU and ${RESERVED_MEMORY_GB} GB never go to jobs.
  reserved {
    cores  = "0-${RESERVED_VCPUS - 1}"
    memory = ${RESERVED_MEMORY_GB * 1024}
  }

  meta {
    "roundhouse.environment" = "${a.environment}"
    "roundhouse.job_vcpus"   = "${a.jobVcpus}"
    "roundhouse.job_memory_gb" = "${a.jobMemoryGb}"
  }
}

# The executor runs as a raw_exec task and starts job containers through the Docker Engine API.
plugin "raw_exec" {
  config {
    enabled = true
  }
}

plugin "docker" {
  config {
    allow_privileged = false
    volumes {
      enabled = false
    }
  }
}

telemetry {
  collection_interval        = "10s"
  disable_hostname           = true
  prometheus_metrics         = true
  publish_allocation_metrics = true
  publish_node_metrics       = true
}

tls {
  http                   = true
  rpc                    = true
  ca_file                = "/etc/nomad.d/tls/ca.pem"
  cert_file              = "/etc/nomad.d/tls/client.pem"
  key_file               = "/etc/nomad.d/tls/client-key.pem"
  verify_server_hostname = true
  verify_https_client    = false
}
`;
}

/** iptables rules for forwarded (container) traffic; reapplied by a unit at every boot. */
export function jobFirewall(a: StartupArgs): string {
  const lines = [
    '#!/bin/sh',
    '# Job containers: DNS to the VPC resolver only, no instance metadata, no control plane.',
    'set -e',
    'iptables -N DOCKER-USER 2>/dev/null || true',
    'iptables -F DOCKER-USER',
  ];
  for (const proto of ['udp', 'tcp'])
    lines.push(`iptables -A DOCKER-USER -d ${a.dnsServer}/32 -p ${proto} --dport 53 -j RETURN`);
  for (const iface of ['docker+', 'br-+']) lines.push(`iptables -A DOCKER-USER -i ${iface} -d 169.254.0.0/16 -j DROP`);
  for (const cidr of a.blockedCidrs)
    for (const iface of ['docker+', 'br-+']) lines.push(`iptables -A DOCKER-USER -i ${iface} -d ${cidr} -j DROP`);
  lines.push('iptables -A DOCKER-USER -j RETURN');
  return `${lines.join('\n')}\n`;
}

export function renderStartupScript(a: StartupArgs): string {
  const daemon = JSON.stringify(
    {
      // User namespaces: root in a job container is an unprivileged user on the host (CVE-2019-5736 class).
      'userns-remap': 'default',
      'default-address-pools': [{ base: a.dockerNetworkCidr, size: 24 }],
      'live-restore': true,
      'log-driver': 'json-file',
      'log-opts': { 'max-size': '50m', 'max-file': '3' },
    },
    null,
    2,
  );
  return `#!/bin/bash
# Roundhouse Nomad client (${a.cloud}, environment ${a.environment}). Generated by stacks/nomad/startup.ts.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

${metadata(a.cloud)}

retry() { local n=0; until "$@"; do n=$((n+1)); [ "$n" -ge 5 ] && return 1; sleep 5; done; }

# --- packages: Docker CE and Nomad from their apt repositories -------------------------------------
systemctl stop unattended-upgrades || true
retry apt-get update -q
retry apt-get install -y -q ca-certificates curl gnupg jq iptables
install -d -m 0755 /etc/apt/keyrings
curl -fsSL https://download.docker.com/linux/ubuntu/gpg | gpg --batch --yes --dearmor -o /etc/apt/keyrings/docker.gpg
curl -fsSL https://apt.releases.hashicorp.com/gpg | gpg --batch --yes --dearmor -o /etc/apt/keyrings/hashicorp.gpg
CODENAME=$(. /etc/os-release && echo "$VERSION_CODENAME")
echo "deb [signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu $CODENAME stable" > /etc/apt/sources.list.d/docker.list
echo "deb [signed-by=/etc/apt/keyrings/hashicorp.gpg] https://apt.releases.hashicorp.com $CODENAME main" > /etc/apt/sources.list.d/hashicorp.list
retry apt-get update -q

${heredoc('/etc/docker/daemon.json', daemon)}
retry apt-get install -y -q docker-ce docker-ce-cli containerd.io
retry apt-get install -y -q "nomad=${a.nomadVersion}"
systemctl restart docker

# --- job network isolation -------------------------------------------------------------------------
${heredoc('/usr/local/sbin/roundhouse-job-firewall', jobFirewall(a), '0755')}
${heredoc(
  '/etc/systemd/system/roundhouse-job-firewall.service',
  `[Unit]
Description=Keep job containers away from instance metadata and the control plane
After=docker.service
Requires=docker.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/roundhouse-job-firewall
RemainAfterExit=true

[Install]
WantedBy=multi-user.target`,
)}
systemctl daemon-reload
systemctl enable --now roundhouse-job-firewall.service
/usr/local/sbin/roundhouse-job-firewall

# --- mTLS material (CA and client certificate generated by the stack) ------------------------------
${heredoc('/etc/nomad.d/tls/ca.pem', a.caPem)}
${heredoc('/etc/nomad.d/tls/client.pem', a.certPem)}
${heredoc('/etc/nomad.d/tls/client-key.pem', a.keyPem, '0600')}

# --- Nomad client ----------------------------------------------------------------------------------
${heredoc('/etc/nomad.d/client.hcl', clientHcl(a))}
sed -i "s/NODE_NAME/$INSTANCE_ID/; s/NODE_IP/$PRIVATE_IP/g" /etc/nomad.d/client.hcl
rm -f /etc/nomad.d/nomad.hcl
# Address users connect to for "rerun job with SSH" (public when the client has one).
install -d -m 0755 /etc/roundhouse
echo "\${PUBLIC_IP:-$PRIVATE_IP}" > /etc/roundhouse/ssh-address
${heredoc(
  '/etc/environment.d/90-nomad.conf',
  `NOMAD_ADDR=https://127.0.0.1:4646
NOMAD_CACERT=/etc/nomad.d/tls/ca.pem
NOMAD_CLIENT_CERT=/etc/nomad.d/tls/client.pem
NOMAD_CLIENT_KEY=/etc/nomad.d/tls/client-key.pem`,
)}
${heredoc(
  '/etc/systemd/system/nomad.service',
  `[Unit]
Description=Nomad client
Wants=network-online.target
After=network-online.target docker.service

[Service]
ExecStart=/usr/bin/nomad agent -config /etc/nomad.d/client.hcl
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=always
RestartSec=10
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target`,
)}
systemctl daemon-reload
systemctl enable nomad
systemctl restart nomad
`;
}
