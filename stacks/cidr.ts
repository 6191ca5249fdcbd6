/** IPv4 CIDR arithmetic for carving subnets deterministically (a subnet's CIDR must never move). */

export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const addr = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  // A CIDR whose address has host bits set is almost always a typo: refuse rather than round it.
  if ((addr & mask) >>> 0 !== addr) return undefined;
  return { base: addr, prefix };
}

export function formatCidr(c: Cidr): string {
  const b = c.base;
  return `${b >>> 24}.${(b >>> 16) & 255}.${(b >>> 8) & 255}.${b & 255}/${c.prefix}`;
}

/** The `index`-th block of `newBits` more prefix bits inside `parent`. */
export function subnetOf(parent: string, newBits: number, index: number): string {
  const p = parseCidr(parent);
  if (!p) throw new Error(`not a CIDR: ${parent}`);
  const prefix = p.prefix + newBits;
  if (prefix > 32 || index < 0 || index >= 2 ** newBits)
    throw new Error(`no block ${index} of /${prefix} in ${parent}`);
  const size = 2 ** (32 - prefix);
  return formatCidr({ base: (p.base + index * size) >>> 0, prefix });
}

export function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (!x || !y) return false;
  const prefix = Math.min(x.prefix, y.prefix);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (x.base & mask) >>> 0 === (y.base & mask) >>> 0;
}

/** The n-th host address of a CIDR (AWS's VPC resolver is base + 2). */
export function hostOf(cidr: string, n: number): string {
  const c = parseCidr(cidr);
  if (!c) throw new Error(`not a CIDR: ${cidr}`);
  return formatCidr({ base: (c.base + n) >>> 0, prefix: 32 }).replace(/\/32$/, '');
}

export const isWorldOpen = (cidr: string) => cidr.trim() === '0.0.0.0/0' || cidr.trim() === '::/0';
