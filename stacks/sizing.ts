/**
 * Nomad client sizing, after the operations guide: every client reserves 2 vCPU and 4 GB for coordinating
 * builds, jobs get the rest, and a client may have at most 64 vCPU and 128 GB.
 *
 * Machine sizes come from the machine type's name (no cloud API is called while planning); a type this
 * table cannot read needs `roundhouse:nomadClientVcpus` and `roundhouse:nomadClientMemoryGb`.
 */

export const RESERVED_VCPUS = 2;
export const RESERVED_MEMORY_GB = 4;
export const MAX_CLIENT_VCPUS = 64;
export const MAX_CLIENT_MEMORY_GB = 128;

export interface MachineSize {
  readonly vcpus: number;
  readonly memoryGb: number;
}

const AWS_SIZE_VCPUS: Record<string, number> = {
  medium: 2,
  large: 2,
  xlarge: 4,
  '2xlarge': 8,
  '3xlarge': 12,
  '4xlarge': 16,
  '6xlarge': 24,
  '8xlarge': 32,
  '9xlarge': 36,
  '12xlarge': 48,
  '16xlarge': 64,
  '18xlarge': 72,
  '24xlarge': 96,
  '32xlarge': 128,
  '48xlarge': 192,
};

/** GiB of memory per vCPU by AWS family letter (general purpose m/t, compute c, memory r, x). */
const AWS_MEMORY_PER_VCPU: Record<string, number> = { m: 4, t: 4, c: 2, r: 8, x: 16 };

/** vCPU and memory of an EC2 type such as `t3a.2xlarge`, `m6i.4xlarge`, `c7g.xlarge`. */
export function awsMachineSize(type: string): MachineSize | undefined {
  const m = /^([a-z])(\d+)[a-z-]*\.(\w+)$/.exec(type);
  if (!m) return undefined;
  const [, family, , size] = m;
  const perVcpu = AWS_MEMORY_PER_VCPU[family];
  const vcpus = AWS_SIZE_VCPUS[size];
  if (perVcpu === undefined || vcpus === undefined) return undefined;
  // t-family medium is 2 vCPU / 4 GiB; everything else follows the family ratio.
  if (family === 't' && size === 'medium') return { vcpus: 2, memoryGb: 4 };
  return { vcpus, memoryGb: vcpus * perVcpu };
}

const GCP_MEMORY_PER_VCPU: Record<string, number> = {
  standard: 4,
  highmem: 8,
  highcpu: 1,
};

/** vCPU and memory of a Compute Engine type such as `n2-standard-8` or `n2-custom-16-65536`. */
export function gcpMachineSize(type: string): MachineSize | undefined {
  const custom = /^(?:[a-z]\d+[a-z]?-)?custom-(\d+)-(\d+)(?:-ext)?$/.exec(type);
  if (custom) return { vcpus: Number(custom[1]), memoryGb: Number(custom[2]) / 1024 };
  const m = /^([a-z]\d+[a-z]?)-(standard|highmem|highcpu)-(\d+)$/.exec(type);
  if (!m) return undefined;
  const vcpus = Number(m[3]);
  // n1 and e2 standard are 3.75 GB and 4 GB per vCPU respectively; the planner rounds down.
  const perVcpu = m[1] === 'n1' && m[2] === 'standard' ? 3.75 : GCP_MEMORY_PER_VCPU[m[2]];
  return { vcpus, memoryGb: vcpus * perVcpu };
}

/** What is left for jobs on one client, or the reason the size is refused. */
export function jobCapacity(size: MachineSize): { vcpus: number; memoryGb: number } | { error: string } {
  if (size.vcpus > MAX_CLIENT_VCPUS || size.memoryGb > MAX_CLIENT_MEMORY_GB) {
    return {
      error:
        `${size.vcpus} vCPU / ${size.memoryGb} GB is above the Nomad client maximum of ` +
        `${MAX_CLIENT_VCPUS} vCPU / ${MAX_CLIENT_MEMORY_GB} GB; choose a smaller machine type and raise nomadClientMax instead`,
    };
  }
  if (size.vcpus <= RESERVED_VCPUS || size.memoryGb <= RESERVED_MEMORY_GB) {
    return {
      error:
        `${size.vcpus} vCPU / ${size.memoryGb} GB leaves nothing for jobs once ${RESERVED_VCPUS} vCPU and ` +
        `${RESERVED_MEMORY_GB} GB are reserved for coordinating builds; choose a machine with more than that`,
    };
  }
  return { vcpus: size.vcpus - RESERVED_VCPUS, memoryGb: size.memoryGb - RESERVED_MEMORY_GB };
}
