// The loader's only route to the kernel: each bpf(2) command it uses, counted and routed through
// an injection hook so tests can make the Nth call fail and check that nothing leaks.
import { SyscallError } from '../sys/error.js';
import {
  btfGetFdById,
  btfGetInfo,
  btfGetNextId,
  btfLoad,
  mapCreate,
  mapFreeze,
  mapGetInfo,
  mapUpdateBatch,
  mapUpdateElem,
  objGet,
  objGetIfPinned,
  objPin,
  progBindMap,
  progGetFdById,
  progGetInfo,
  progLoad,
  progLoadAsync,
  tokenCreate,
} from '../sys/bpf.js';

/**
 * Called before each syscall the loader makes, with its name and a running count (1-based);
 * throwing from it fails that call as if the kernel had returned the error.
 */
export type SyscallHook = (command: string, count: number) => void;

let hook: SyscallHook | undefined;
let count = 0;

/** Installs (or removes, with undefined) the hook and resets the count. For tests. */
export function setSyscallHook(h: SyscallHook | undefined): void {
  hook = h;
  count = 0;
}

/** A hook that fails the `n`th call with `errno` (default EPERM = 1). */
export function failNthCall(n: number, errno = 1): SyscallHook {
  return (command, c) => {
    if (c === n) throw new SyscallError(command, errno, { hint: 'injected by the loader test hook' });
  };
}

function wrap<A extends unknown[], R>(command: string, fn: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => {
    count++;
    hook?.(command, count);
    return fn(...args);
  };
}

/** The commands, each going through the hook. */
export const sys = {
  btfLoad: wrap('BPF_BTF_LOAD', btfLoad),
  mapCreate: wrap('BPF_MAP_CREATE', mapCreate),
  mapUpdateElem: wrap('BPF_MAP_UPDATE_ELEM', mapUpdateElem),
  mapUpdateBatch: wrap('BPF_MAP_UPDATE_BATCH', mapUpdateBatch),
  mapFreeze: wrap('BPF_MAP_FREEZE', mapFreeze),
  mapGetInfo: wrap('BPF_OBJ_GET_INFO_BY_FD', mapGetInfo),
  objPin: wrap('BPF_OBJ_PIN', objPin),
  objGet: wrap('BPF_OBJ_GET', objGet),
  objGetIfPinned: wrap('BPF_OBJ_GET', objGetIfPinned),
  progLoad: wrap('BPF_PROG_LOAD', progLoad),
  progLoadAsync: wrap('BPF_PROG_LOAD', progLoadAsync),
  progBindMap: wrap('BPF_PROG_BIND_MAP', progBindMap),
  btfGetNextId: wrap('BPF_BTF_GET_NEXT_ID', btfGetNextId),
  btfGetFdById: wrap('BPF_BTF_GET_FD_BY_ID', btfGetFdById),
  btfGetInfo: wrap('BPF_OBJ_GET_INFO_BY_FD', btfGetInfo),
  progGetFdById: wrap('BPF_PROG_GET_FD_BY_ID', progGetFdById),
  progGetInfo: wrap('BPF_OBJ_GET_INFO_BY_FD', progGetInfo),
  tokenCreate: wrap('BPF_TOKEN_CREATE', tokenCreate),
};
