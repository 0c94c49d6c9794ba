// LoadOptions checked before anything is read or made: a typo'd level or a pin directory given as
// a number is an OptionError naming it, not a silently different load.
import { OptionError } from '../errors.js';
import { checkBoolean, checkInteger } from '../internal/options.js';
import { bpffsAncestor } from '../sys/bpffs.js';

/** The LoadOptions fields checked here, as values of any type (they come from JavaScript too). */
interface LoadOptionValues {
  logLevel?: unknown;
  logSize?: unknown;
  legacyMaps?: unknown;
  pinRoot?: unknown;
  pinMaps?: unknown;
  pinDir?: unknown;
  trace?: unknown;
  programs?: unknown;
  tokenPath?: unknown;
}

/** BPF_LOG_LEVEL1 | BPF_LOG_LEVEL2 | BPF_LOG_STATS: the bits the kernel takes in log_level. */
export const MAX_LOG_LEVEL = 7;
/** The kernel refuses a log buffer under 128 bytes or of UINT_MAX >> 2 or more. */
const LOG_SIZE_RANGE = [128, 0x3fffffff] as const;

export function checkLoadOptions(opts: LoadOptionValues): void {
  checkInteger('logLevel', opts.logLevel, 0, MAX_LOG_LEVEL);
  checkInteger('logSize', opts.logSize, ...LOG_SIZE_RANGE);
  checkBoolean('legacyMaps', opts.legacyMaps);
  for (const key of ['pinRoot', 'pinMaps', 'pinDir'] as const) {
    const v = opts[key];
    if (v !== undefined && (typeof v !== 'string' || v === '' || v.includes('\0')))
      throw new OptionError(key, v, 'a directory path');
  }
  if (opts.tokenPath !== undefined && (typeof opts.tokenPath !== 'string' || opts.tokenPath.includes('\0')))
    throw new OptionError('tokenPath', opts.tokenPath, "a BPF filesystem's path ('' for no token)");
  if (opts.trace !== undefined && typeof opts.trace !== 'function')
    throw new OptionError('trace', opts.trace, 'a function');
  if (
    opts.programs !== undefined &&
    (!Array.isArray(opts.programs) || !opts.programs.every((p) => typeof p === 'string'))
  )
    throw new OptionError('programs', opts.programs, 'an array of program names');
}

/**
 * Before anything is created: a pin directory not on a bpffs (none mounted, and no right to mount
 * one) fails here, not after every map and program is loaded.
 */
export function checkPinDirs(opts: { pinDir?: string; pinMaps?: string }): void {
  for (const dir of [opts.pinDir, opts.pinMaps]) if (dir !== undefined) bpffsAncestor(dir);
}
