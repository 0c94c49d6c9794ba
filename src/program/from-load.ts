// How the loader makes the handle of a program it has just loaded: its name and type are known and
// the descriptor is a program, so neither /proc nor the kernel is asked (Program.fromFd's checks
// cost a syscall each). Not part of the package's surface: program.ts registers the maker when it
// is evaluated, and only the loader imports this module.
import type { Fd } from '../sys/fd.js';
import type { ProgType } from '../constants.js';
import type { Program } from './program.js';

type Maker = (fd: Fd, name: string, type: ProgType) => Program;
let maker: Maker | undefined;

/** Called once by program.ts with a function that can reach Program's private constructor. */
export function registerProgramMaker(make: Maker): void {
  maker = make;
}

/** The handle of a program the loader just loaded from `fd` (owned by the handle from now on). */
export function programFromLoad(fd: Fd, name: string, type: ProgType): Program {
  if (maker === undefined) throw new Error('program.ts was not evaluated before the loader used it');
  return maker(fd, name, type);
}
