// The mark by which the loader tells Program.fromFd that a descriptor is a program it has just
// loaded, with the name and type it gives: fromFd then asks neither /proc nor the kernel (its
// checks cost a syscall each). Only the loader imports this module; the package does not export
// it, so no caller outside can skip fromFd's checks.

/** A key of Program.fromFd's options, set to true by the loader alone. */
export const JUST_LOADED: unique symbol = Symbol('ebpf: a program the loader just loaded');
