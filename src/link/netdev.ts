// Network devices by name or index, as the link kinds that attach to a device take them.
import { readdirSync, readFileSync } from 'node:fs';
import { EbpfError, NotFoundError } from '../errors.js';

/** A device: its index, or its name in the current network namespace. */
export type Device = number | string;

/**
 * The index of a device in this process's network namespace, from sysfs (which `ip netns exec`
 * remounts for the namespace it enters).
 */
export function ifindexOf(dev: Device): number {
  if (typeof dev === 'number') {
    if (!Number.isInteger(dev) || dev <= 0) throw new EbpfError(`invalid interface index ${dev}`);
    return dev;
  }
  if (dev === '' || dev.includes('/') || dev === '.' || dev === '..') {
    throw new EbpfError(`invalid interface name '${dev}'`);
  }
  let text: string;
  try {
    text = readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8');
  } catch {
    throw new NotFoundError(`no network interface '${dev}' in this network namespace`);
  }
  const n = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(n) || n <= 0) throw new EbpfError(`unreadable ifindex for '${dev}': ${text.trim()}`);
  return n;
}

/** The name of the device with this index in this process's network namespace. */
export function nameOf(ifindex: number): string {
  let names: string[];
  try {
    names = readdirSync('/sys/class/net');
  } catch {
    throw new NotFoundError(`cannot list network interfaces (/sys/class/net)`);
  }
  for (const name of names) {
    try {
      if (Number.parseInt(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'), 10) === ifindex)
        return name;
    } catch {
      // an interface that went away while listing
    }
  }
  throw new NotFoundError(`no network interface with index ${ifindex} in this network namespace`);
}
