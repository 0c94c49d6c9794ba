// What one load has made so far (descriptors and pins), so a failure can undo it in reverse.
import { unlinkSync } from 'node:fs';
import type { Fd } from '../sys/fd.js';

/** Descriptors and pins made so far; undone in reverse when a step fails. */
export class Made {
  readonly fds: Fd[] = [];
  readonly pins: string[] = [];
  fd<T extends Fd>(fd: T): T {
    this.fds.push(fd);
    return fd;
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
