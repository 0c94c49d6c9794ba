// Layout facts the C formatter needs: type sizes, alignments, packing, and the explicit padding
// fields (`long: 64;`) that make a compiler reproduce a struct's BTF offsets, as libbpf 1.1 does.
import { BtfError } from '../errors.js';
import type { Struct, Type, Void } from './types.js';

/** Resolves a type id; throws a BtfError for an id the BTF does not hold. */
export type TypeLookup = (id: number) => Type | Void;

/** Guards the walks below against reference cycles in malformed BTF. */
const MAX_CHAIN = 32;

/** Larger gaps (16 MiB) are taken for malformed BTF rather than written out as `long: 64;` lines. */
const MAX_PADDING_BITS = 1 << 27;

/** Spellings of `long` that libbpf recognises when it guesses the target's pointer size. */
const LONG_NAMES = new Set([
  'long',
  'long int',
  'int long',
  'unsigned long',
  'long unsigned',
  'unsigned long int',
  'unsigned int long',
  'long unsigned int',
  'long int unsigned',
  'int unsigned long',
  'int long unsigned',
]);

/**
 * The pointer size the BTF was written for: the size of its first 4- or 8-byte `long`, or 8 when
 * it has none (an ELF64 object, or a BTF with no `long`, is read as a 64-bit target).
 */
export function guessPointerSize(count: number, lookup: TypeLookup): number {
  for (let id = 1; id < count; id++) {
    const t = lookup(id);
    if (t.kind === 'INT' && (t.size === 4 || t.size === 8) && LONG_NAMES.has(t.name)) return t.size;
  }
  return 8;
}

export class Layout {
  private readonly aligns = new Map<number, number>();

  constructor(
    private readonly lookup: TypeLookup,
    readonly pointerSize: number,
  ) {}

  /**
   * Size in bytes of a type, through typedefs, modifiers and arrays; -1 when it has none
   * (void, a forward declaration, a function prototype) or when it does not fit in 32 bits.
   */
  sizeOf(id: number): number {
    let nelems = 1;
    for (let depth = 0; depth < MAX_CHAIN; depth++) {
      const t = this.lookup(id);
      switch (t.kind) {
        case 'INT':
        case 'STRUCT':
        case 'UNION':
        case 'ENUM':
        case 'ENUM64':
        case 'DATASEC':
        case 'FLOAT':
          return fitsU32(nelems * t.size) ? nelems * t.size : -1;
        case 'PTR':
          return fitsU32(nelems * this.pointerSize) ? nelems * this.pointerSize : -1;
        case 'TYPEDEF':
        case 'VOLATILE':
        case 'CONST':
        case 'RESTRICT':
        case 'VAR':
        case 'DECL_TAG':
        case 'TYPE_TAG':
          id = t.type;
          break;
        case 'ARRAY':
          nelems *= t.nelems;
          if (!fitsU32(nelems)) return -1;
          id = t.type;
          break;
        default:
          return -1;
      }
    }
    return -1;
  }

  /**
   * Natural alignment in bytes; 1 for a struct whose layout shows it is packed; 0 for a type
   * that has none (void, a forward declaration, a function prototype).
   */
  alignOf(id: number, depth = 0): number {
    const t = this.lookup(id);
    switch (t.kind) {
      case 'INT':
      case 'ENUM':
      case 'ENUM64':
      case 'FLOAT':
        return Math.min(this.pointerSize, t.size);
      case 'PTR':
        return this.pointerSize;
      case 'TYPEDEF':
      case 'VOLATILE':
      case 'CONST':
      case 'RESTRICT':
      case 'TYPE_TAG':
      case 'ARRAY':
        if (depth > MAX_CHAIN * 64) throw new BtfError('type reference cycle', { typeId: id });
        return this.alignOf(t.type, depth + 1);
      case 'STRUCT':
      case 'UNION': {
        const cached = this.aligns.get(id);
        if (cached !== undefined) return cached;
        if (depth > MAX_CHAIN * 64) throw new BtfError('type reference cycle', { typeId: id });
        const align = this.structAlign(t, depth);
        this.aligns.set(id, align);
        return align;
      }
      default:
        return 0;
    }
  }

  private structAlign(t: Struct, depth: number): number {
    let max = 1;
    for (const m of t.members) {
      const align = this.alignOf(m.type, depth + 1);
      if (align <= 0) return align;
      max = Math.max(max, align);
      if (m.bitfieldSize === 0 && m.bitsOffset % (8 * align) !== 0) return 1;
    }
    return t.size % max !== 0 ? 1 : max;
  }

  /** A struct needs `__attribute__((packed))` when a plain member is misaligned or the size is odd. */
  isPacked(t: Struct): boolean {
    let max = 1;
    for (const m of t.members) {
      const align = this.alignOf(m.type);
      if (align !== 0 && m.bitfieldSize === 0 && m.bitsOffset % (8 * align) !== 0) return true;
      max = Math.max(max, align);
    }
    return t.size % max !== 0;
  }

  /** Padding bits the whole output may still have (see MAX_PADDING_BITS). */
  private paddingLeft = 2 * MAX_PADDING_BITS;

  /**
   * Anonymous bitfields that move a compiler from bit `cur` to bit `next` of struct `typeId`,
   * where the next member has alignment `nextAlign`: `type: bits;` declarations, each after `sep`
   * (a newline and the indent). A run of full-width ones is one repeat (a 14 MB gap is 1.75
   * million `long: 64;` lines: one string, not an array of them).
   */
  padding(
    cur: number,
    next: number,
    nextAlign: number,
    inBitfield: boolean,
    typeId: number,
    sep: string,
  ): string {
    let out = '';
    // libbpf computes bit offsets in C ints; wrapping the same way keeps a malformed size (say
    // 0xffffffff bytes) from asking for billions of padding fields.
    cur |= 0;
    next |= 0;
    if (cur >= next) return out;
    if (next - cur > MAX_PADDING_BITS)
      throw new BtfError(`${next - cur} bits of padding in one gap`, { typeId });
    // And all gaps together: many types each with a gap just under the bound are as bad.
    this.paddingLeft -= next - cur;
    if (this.paddingLeft < 0)
      throw new BtfError(`more than ${2 * MAX_PADDING_BITS} bits of padding in all types`, { typeId });
    const pads: [string, number][] = [
      ['long', this.pointerSize * 8],
      ['int', 32],
      ['short', 16],
      ['char', 8],
    ];
    // The widest type whose next boundary is not past the gap is used to fill it: a compiler
    // honours that type's alignment, which keeps the number of explicit markers small.
    let padName = 'char';
    let padBits = 8;
    let aligned = roundUp(cur, 8);
    for (const [name, bits] of pads) {
      padName = name;
      padBits = bits;
      aligned = roundUp(cur, bits);
      if (aligned <= next) break;
    }
    if (aligned > cur && aligned <= next) {
      // A zero-width marker is needed when the compiler would not reach the boundary by itself:
      // inside a bitfield run, when the next member's own alignment falls short of it, or when a
      // `type: N` after it would otherwise fit in the hole and be placed there.
      if (
        inBitfield ||
        (aligned === next && roundUp(cur, nextAlign * 8) !== aligned) ||
        (aligned !== next && next - aligned <= aligned - cur)
      ) {
        out += `${sep}${padName}: ${inBitfield ? aligned - cur : 0};`;
      }
      cur = aligned;
    }
    const full = Math.floor((next - cur) / padBits);
    out += `${sep}${padName}: ${padBits};`.repeat(full);
    cur += full * padBits;
    if (cur !== next) {
      // The tail uses the smallest type that holds it, which reads as the size of the gap.
      const bits = next - cur;
      for (let i = pads.length - 1; i >= 0; i--) {
        const [name, width] = pads[i] as [string, number];
        if (width < bits) continue;
        out += `${sep}${name}: ${bits};`;
        break;
      }
    }
    return out;
  }
}

function fitsU32(n: number): boolean {
  return n <= 0xffffffff;
}

/** Round up to a multiple of `to`; a zero or negative `to` leaves the value where it is. */
function roundUp(n: number, to: number): number {
  if (!(to > 0)) return n;
  return Math.ceil(n / to) * to;
}
