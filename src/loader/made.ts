// What one load has made so far (descriptors, pins and their directories), so a failure can undo it in reverse.
import { unlinkSync } from 'node:fs';
import { removeDirs } from '../sys/bpffs.js';
import type { Fd } from '../sys/fd.js';
import { munmap } from '../sys/mmap.js';

/** Descriptors, pins and pin directories made so far; undone in reverse when a step fails. */
export class Made {
  readonly fds: Fd[] = [];
  readonly pins: string[] = [];
  /** Pin directories made for the pins, outermost first. */
  readonly dirs: string[] = [];
  /** Memory mapped for the load (arenas), unmapped before the descriptors close. */
  readonly mappings: ArrayBuffer[] = [];
  fd<T extends Fd>(fd: T): T {
    this.fds.push(fd);
    return fd;
  }
  mapping(buffer: ArrayBuffer): ArrayBuffer {
    this.mappings.push(buffer);
    return buffer;
  }
  undo(): { closed: number; unpinned: string[] } {
    const unpinned: string[] = [];
    for (const p of this.pins.reverse()) {
      try {
        unlinkSync(p);
        unpinned.push(p);
      } catch {
        // Already gone: nothing left to undo.
      }
    }
    removeDirs(this.dirs);
    for (const m of this.mappings.reverse()) if (m.byteLength > 0) munmap(m);
    let closed = 0;
    for (const fd of this.fds.reverse()) {
      if (!fd.closed) {
        fd.close();
        closed++;
      }
    }
    return { closed, unpinned };
  }
}
