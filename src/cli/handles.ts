// The words a command line names kernel objects with, as bpftool's: PROG (`id N`, `pinned PATH`,
// `name NAME`), MAP (`pinned PATH`, `id N`), LINK (`id N`, `pinned PATH`), and listings that
// skip objects gone since they were listed.
import { NotFoundError } from '../index.js';
import { Link } from '../exports/link.js';
import { BpfMap } from '../exports/map.js';
import { Program, programIds } from '../exports/program.js';
import { SyscallError } from '../index.js';
import { parseId, UsageError } from './common.js';

/**
 * open(), or undefined when the object went away after it was listed (ENOENT). Any other failure
 * (EPERM, a broken descriptor) propagates: a listing that drops what it cannot open would lie.
 */
export function openListed<T>(open: () => T): T | undefined {
  try {
    return open();
  } catch (e) {
    if (e instanceof SyscallError && e.code === 'ENOENT') return undefined;
    throw e;
  }
}

/** How many words name an object at the start of `words`: 2 after id / pinned / name, else 1. */
export function objectWords(words: string[], kinds: readonly string[]): number {
  return kinds.includes(words[0] ?? '') ? 2 : 1;
}

/**
 * The program a command line names: `id N`, `pinned PATH`, `name NAME`, a bare id or an absolute
 * path (bpftool's PROG words). Returns it and the words after it.
 */
export function openProgram(words: string[]): { program: Program; rest: string[] } {
  const [kind, value] = words;
  const rest = words.slice(objectWords(words, ['id', 'pinned', 'name']));
  if (kind === undefined) throw new UsageError('which program? give id N, pinned PATH or name NAME');
  if ((kind === 'id' || kind === 'pinned' || kind === 'name') && (value === undefined || value === ''))
    throw new UsageError(`'${kind}' needs a value`);
  if (kind === 'id') return { program: Program.fromId(parseId(value!, 'program')), rest };
  if (kind === 'pinned') return { program: Program.fromPin(value!), rest };
  if (kind === 'name') {
    for (const id of programIds()) {
      const p = openListed(() => Program.fromId(id));
      if (p === undefined) continue;
      if (p.name === value) return { program: p, rest };
      p.close();
    }
    throw new NotFoundError(`no loaded program named '${value}'`);
  }
  if (/^\d+$/.test(kind)) return { program: Program.fromId(parseId(kind, 'program')), rest };
  if (kind.startsWith('/')) return { program: Program.fromPin(kind), rest };
  throw new UsageError(`cannot tell which program '${kind}' means (id N, pinned PATH or name NAME)`);
}

/** The map a command line names: `pinned PATH` or `id N` (bpftool's MAP words), and the words after. */
export function openMap(words: string[]): { map: BpfMap; rest: string[] } {
  const [how, what, ...rest] = words;
  if (how === 'pinned' && what !== undefined && what !== '') return { map: BpfMap.fromPin(what), rest };
  if (how === 'id' && what !== undefined) return { map: BpfMap.fromId(parseId(what, 'map')), rest };
  throw new UsageError(
    `which map? give 'pinned PATH' or 'id N'${how !== undefined ? `, not '${words.slice(0, 2).join(' ')}'` : ''}`,
  );
}

/** The link a command line names: `id N`, `pinned PATH`, a bare id or an absolute path. */
export function openLink(words: string[]): { link: Link; rest: string[] } {
  const [kind, value] = words;
  const rest = words.slice(objectWords(words, ['id', 'pinned']));
  if (kind === 'id' && value !== undefined) return { link: Link.fromId(parseId(value, 'link')), rest };
  if (kind === 'pinned' && value !== undefined && value !== '') return { link: Link.fromPin(value), rest };
  if (kind !== undefined && /^\d+$/.test(kind)) return { link: Link.fromId(parseId(kind, 'link')), rest };
  if (kind?.startsWith('/') === true) return { link: Link.fromPin(kind), rest };
  throw new UsageError('which link? give id N or pinned PATH');
}
