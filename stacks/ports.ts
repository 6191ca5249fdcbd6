/** Ports of the build fleet, from the operations guide's hardening section. */

/** Nomad HTTP, RPC and Serf. */
export const NOMAD_PORTS = { from: 4646, to: 4648 } as const;
/** "Rerun job with SSH" on Nomad clients. */
export const SSH_RERUN_PORTS = { from: 64535, to: 65535 } as const;
/** VM-service VMs: SSH and remote Docker (from Nomad clients), SSH into machine jobs (from users). */
export const VM_SSH_PORT = 22;
export const VM_DOCKER_PORT = 2376;
export const VM_SSH_RERUN_PORT = 54782;
/** Where Google's health checkers come from (they must reach the Nomad client health endpoint). */
export const GOOGLE_HEALTH_CHECK_RANGES = ['35.191.0.0/16', '130.211.0.0/22'] as const;
