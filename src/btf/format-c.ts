// BTF → C header, byte for byte what `bpftool btf dump file F format c` prints (bpftool 7.1 as Debian
// builds it from Linux 6.1): the vmlinux.h a BPF program compiles against.
import { isQualifier, typeRefs } from './walk.js';
import { BtfError } from '../errors.js';
import { Layout, guessPointerSize, type TypeLookup } from './format-c-layout.js';
import type { Btf } from './btf.js';
import type { Enum, Struct, Type, Typedef, Void } from './types.js';

/** What the formatter reads from a Btf: every id below endTypeId (a split BTF's base included). */
export type CTypeSource = Pick<Btf, 'endTypeId' | 'type'>;

export interface FormatCOptions {
  /** Bytes in a pointer and a `long`; guessed from the BTF's own `long` when not given. */
  pointerSize?: 4 | 8;
}

const HEADER =
  '#ifndef __VMLINUX_H__\n' +
  '#define __VMLINUX_H__\n' +
  '\n' +
  '#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n' +
  '#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n' +
  '#endif\n\n';

const TRAILER =
  '#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n' +
  '#pragma clang attribute pop\n' +
  '#endif\n' +
  '\n' +
  '#endif /* __VMLINUX_H__ */\n';

/** Render every type of a BTF as a compilable C header, as bpftool 7.1 does. */
export function formatC(btf: CTypeSource, options: FormatCOptions = {}): string {
  return formatCTypes(btf.endTypeId, (id) => btf.type(id), options);
}

/** As formatC, over a plain lookup: `count` is one more than the highest id. */
export function formatCTypes(count: number, lookup: TypeLookup, options: FormatCOptions = {}): string {
  const types: (Type | Void)[] = new Array<Type | Void>(count);
  for (let id = 0; id < count; id++) {
    const t = lookup(id);
    if (t.id !== id) throw new BtfError(`lookup returned type [${t.id}]`, { typeId: id });
    types[id] = t;
  }
  const get = (id: number): Type | Void => {
    const t = types[id];
    if (t === undefined) throw new BtfError(`reference to missing type [${id}]`, { typeId: id });
    return t;
  };
  const pointerSize = options.pointerSize ?? guessPointerSize(count, get);
  const writer = new CWriter(count, get, new Layout(get, pointerSize));
  writer.out.push(HEADER);
  for (let id = 1; id < count; id++) writer.dumpType(id);
  writer.out.push(TRAILER);
  return writer.out.join('');
}

const enum Order {
  None = 0,
  Ordering = 1,
  Ordered = 2,
}
const enum Emit {
  None = 0,
  Emitting = 1,
  Emitted = 2,
}

/** Deepest nesting of type references followed before the BTF is called cyclic. */
const MAX_DEPTH = 2048;

/** A compiler builtin that a header must not redefine. */
const BUILTIN_VA_LIST = '__builtin_va_list';

/** GCC's internal Arm SIMD types, given a plain C spelling when they appear. */
const MISSING_BASE_TYPES = new Map([
  ['__Poly8_t', 'unsigned char'],
  ['__Poly16_t', 'unsigned short'],
  ['__Poly64_t', 'unsigned long long'],
  ['__Poly128_t', 'unsigned __int128'],
]);

/** The part of a declarator chain still to be written: ids[0..cnt) with the innermost type on top. */
interface DeclStack {
  ids: number[];
  cnt: number;
}

class CWriter {
  readonly out: string[] = [];
  private readonly order: Uint8Array;
  private readonly emit: Uint8Array;
  private readonly fwdEmitted: Uint8Array;
  /** Set for types some other type refers to: an anonymous enum nobody uses is a top-level one. */
  private readonly referenced: Uint8Array;
  private readonly names = new Map<number, string>();
  /** Occurrences of struct/union/enum tags, and of typedef names and enumerators (one C namespace). */
  private readonly tagCounts = new Map<string, number>();
  private readonly identCounts = new Map<string, number>();
  private queue: number[] = [];
  /**
   * Anonymous structs and unions written inline so far. C can write one only where it is used,
   * so each is inlined once in BTF a compiler made; BTF that refers to one anonymous type from
   * many places (the kernel allows it) would be written again at each, and a chain of them grows
   * the text exponentially: past this bound the formatter refuses instead of hanging.
   */
  private inlined = 0;
  /** State changes of the ordering walk so far (see orderType). */
  private changes = 0;
  /** Per (type, through a pointer): 1 + the changes count when a walk left all as it was; its answer. */
  private readonly orderedAt: Uint32Array;
  private readonly orderedStrong: Uint8Array;
  private readonly maxInlined: number;
  /** Types written in declarators so far, and the bound on them (see typeDecl) and on walks. */
  private declared = 0;
  /** Types visited while writing definitions (see emitType), bound by the same. */
  private walked = 0;
  private readonly maxDeclared: number;

  constructor(
    count: number,
    private readonly get: TypeLookup,
    private readonly layout: Layout,
  ) {
    this.order = new Uint8Array(count);
    this.emit = new Uint8Array(count);
    this.fwdEmitted = new Uint8Array(count);
    this.referenced = new Uint8Array(count);
    this.orderedAt = new Uint32Array(2 * count);
    this.orderedStrong = new Uint8Array(2 * count);
    this.maxInlined = 2 * count + 64;
    this.maxDeclared = 64 * count + 65536;
    this.order[0] = Order.Ordered;
    this.emit[0] = Emit.Emitted;
    for (let id = 1; id < count; id++) this.markReferences(get(id));
  }

  private mark(id: number): void {
    if (id < this.referenced.length) this.referenced[id] = 1;
  }

  private markReferences(t: Type | Void): void {
    for (const id of typeRefs(t)) this.mark(id);
  }

  /** Emit one type and whatever it needs that has not been emitted yet. */
  dumpType(id: number): void {
    this.queue = [];
    this.orderType(id, false, 0);
    for (const queued of this.queue) this.emitType(queued, 0, 0);
  }

  // Phase 1: a depth-first walk that queues named definitions so each follows what it embeds.
  // It returns true for a strong link (the target must be complete first) and false for a weak
  // one (a forward declaration will do: the path went through a pointer to a named type).

  private orderType(id: number, throughPtr: boolean, depth: number): boolean {
    if (this.order[id] === Order.Ordered) return true;
    // Arrays, modifiers, prototypes and weak typedefs stay unmarked (as in libbpf), so BTF that
    // reaches one many ways (a prototype whose parameters are all the same prototype, and so on
    // down) would be walked exponentially often. A walk that changed nothing gives the same answer
    // again until something changes: remembered for as long.
    const key = 2 * id + (throughPtr ? 1 : 0);
    const before = this.changes;
    if (this.orderedAt[key] === before + 1) return this.orderedStrong[key] === 1;
    const strong = this.orderWalk(id, throughPtr, depth);
    if (this.changes === before) {
      this.orderedAt[key] = before + 1;
      this.orderedStrong[key] = strong ? 1 : 0;
    }
    return strong;
  }

  private setOrder(id: number, o: Order): void {
    this.order[id] = o;
    this.changes++;
  }

  private enqueue(id: number): void {
    this.queue.push(id);
    this.changes++;
  }

  private orderWalk(id: number, throughPtr: boolean, depth: number): boolean {
    if (depth > MAX_DEPTH) throw new BtfError('type reference chain too deep', { typeId: id });
    const t = this.get(id);
    if (this.order[id] === Order.Ordering) {
      if ((t.kind === 'STRUCT' || t.kind === 'UNION') && throughPtr && t.name !== '') return false;
      throw new BtfError('unsatisfiable type cycle', { typeId: id });
    }
    switch (t.kind) {
      case 'INT':
      case 'FLOAT':
        this.setOrder(id, Order.Ordered);
        return false;
      case 'PTR': {
        const strong = this.orderType(t.type, true, depth + 1);
        this.setOrder(id, Order.Ordered);
        return strong;
      }
      case 'ARRAY':
        return this.orderType(t.type, false, depth + 1);
      case 'STRUCT':
      case 'UNION':
        if (throughPtr && t.name !== '') return false;
        this.setOrder(id, Order.Ordering);
        for (const m of t.members) this.orderType(m.type, false, depth + 1);
        if (t.name !== '') this.enqueue(id);
        this.setOrder(id, Order.Ordered);
        return true;
      case 'ENUM':
      case 'ENUM64':
      case 'FWD':
        if (t.name !== '' || !this.referenced[id]) this.enqueue(id);
        this.setOrder(id, Order.Ordered);
        return true;
      case 'TYPEDEF': {
        const strong = this.orderType(t.type, throughPtr, depth + 1);
        if (throughPtr && !strong) return false;
        this.enqueue(id);
        this.setOrder(id, Order.Ordered);
        return true;
      }
      case 'VOLATILE':
      case 'CONST':
      case 'RESTRICT':
      case 'TYPE_TAG':
        return this.orderType(t.type, throughPtr, depth + 1);
      case 'FUNC_PROTO': {
        let strong = this.orderType(t.returnType, throughPtr, depth + 1);
        for (const p of t.params) if (this.orderType(p.type, throughPtr, depth + 1)) strong = true;
        return strong;
      }
      case 'FUNC':
      case 'VAR':
      case 'DATASEC':
      case 'DECL_TAG':
        this.setOrder(id, Order.Ordered);
        return false;
      case 'VOID':
        return true;
    }
  }

  // Phase 2: write definitions. `cont` is the named struct being defined around this reference
  // (0 at top level): a struct referring to itself needs no forward declaration.

  private emitType(id: number, cont: number, depth: number): void {
    if (this.emit[id] === Emit.Emitted) return;
    if (depth > MAX_DEPTH) throw new BtfError('type reference chain too deep', { typeId: id });
    // Arrays, modifiers, prototypes and anonymous structs stay unmarked, so BTF reaching one many
    // ways (each prototype's parameters twice the next prototype) is walked exponentially often.
    if (++this.walked > this.maxDeclared)
      throw new BtfError(`types are reached from more places than C can write (${this.maxDeclared} visits)`, {
        typeId: id,
      });
    const t = this.get(id);
    if (this.emit[id] === Emit.Emitting) {
      this.emitCycleBreaker(id, t, cont);
      return;
    }
    const topLevel = cont === 0;
    switch (t.kind) {
      case 'INT': {
        const name = this.tagName(id);
        const alias = MISSING_BASE_TYPES.get(name);
        if (alias !== undefined) this.out.push(`typedef ${alias} ${name};\n\n`);
        this.emit[id] = Emit.Emitted;
        break;
      }
      case 'ENUM':
      case 'ENUM64':
        if (topLevel) this.out.push(this.enumDef(id, t, 0), ';\n\n');
        this.emit[id] = Emit.Emitted;
        break;
      case 'PTR':
      case 'VOLATILE':
      case 'CONST':
      case 'RESTRICT':
      case 'TYPE_TAG':
      case 'ARRAY':
        this.emitType(t.type, cont, depth + 1);
        break;
      case 'FWD':
        this.out.push(`${t.union ? 'union' : 'struct'} ${this.tagName(id)};\n\n`);
        this.emit[id] = Emit.Emitted;
        break;
      case 'TYPEDEF':
        this.emit[id] = Emit.Emitting;
        this.emitType(t.type, id, depth + 1);
        // Someone may have needed the typedef as a declaration already (through a pointer).
        if (!this.fwdEmitted[id] && t.name !== BUILTIN_VA_LIST)
          this.out.push(this.typedefDef(id, t), ';\n\n');
        this.emit[id] = Emit.Emitted;
        break;
      case 'STRUCT':
      case 'UNION':
        this.emit[id] = Emit.Emitting;
        // A definition spells out its members, so what they refer to must be declared first;
        // an anonymous struct is spelled out wherever it is used.
        if (topLevel || t.name === '') {
          const inner = t.name === '' ? cont : id;
          for (const m of t.members) this.emitType(m.type, inner, depth + 1);
        } else if (!this.fwdEmitted[id] && id !== cont) {
          this.out.push(this.structFwd(id, t), ';\n\n');
          this.fwdEmitted[id] = 1;
        }
        if (topLevel) {
          this.out.push(this.structDef(id, t, 0), ';\n\n');
          this.emit[id] = Emit.Emitted;
        } else {
          this.emit[id] = Emit.None;
        }
        break;
      case 'FUNC_PROTO':
        this.emitType(t.returnType, cont, depth + 1);
        for (const p of t.params) this.emitType(p.type, cont, depth + 1);
        break;
      default:
        break;
    }
  }

  /** A type met again while it is being defined: a forward declaration breaks the loop. */
  private emitCycleBreaker(id: number, t: Type | Void, cont: number): void {
    if (this.fwdEmitted[id]) return;
    if (t.kind === 'STRUCT' || t.kind === 'UNION') {
      // A struct referring to itself needs nothing; an anonymous one cannot be declared, and
      // libbpf then goes on without a declaration.
      if (id === cont || t.name === '') return;
      this.out.push(this.structFwd(id, t), ';\n\n');
      this.fwdEmitted[id] = 1;
    } else if (t.kind === 'TYPEDEF') {
      // The typedef itself serves as the declaration, usable through pointers only.
      if (t.name !== BUILTIN_VA_LIST) this.out.push(this.typedefDef(id, t), ';\n\n');
      this.fwdEmitted[id] = 1;
    }
  }

  // Names: the first definition of a tag or identifier keeps it; later ones get `___N` where N
  // counts the occurrences so far, in the order they are first written.

  private resolveName(id: number, t: Type, counts: Map<string, number>): string {
    if (t.name === '') return '';
    const cached = this.names.get(id);
    if (cached !== undefined) return cached;
    let name = t.name;
    if (!(t.kind === 'FWD' || (t.kind === 'ENUM' && t.values.length === 0))) {
      const n = bump(counts, t.name);
      if (n > 1) name = `${t.name}___${n}`;
    }
    this.names.set(id, name);
    return name;
  }

  private tagName(id: number): string {
    return this.resolveName(id, this.get(id) as Type, this.tagCounts);
  }

  private identName(id: number): string {
    return this.resolveName(id, this.get(id) as Type, this.identCounts);
  }

  private structFwd(id: number, t: Struct): string {
    const name = this.tagName(id);
    return `${t.kind === 'STRUCT' ? 'struct' : 'union'}${t.name !== '' ? ' ' : ''}${name}`;
  }

  private structDef(id: number, t: Struct, lvl: number): string {
    const isStruct = t.kind === 'STRUCT';
    const align = this.layout.alignOf(id);
    const packed = isStruct && this.layout.isPacked(t);
    const parts: string[] = [this.structFwd(id, t), ' {'];
    const indent = pfx(lvl + 1);
    let off = 0;
    let prevBitfield = false;
    for (const m of t.members) {
      // The kernel refuses such a member ("Member exceeds struct_size"); written out, the padding
      // before it would be one line per 8 bytes up to 512 MiB.
      if (m.bitsOffset > t.size * 8)
        throw new BtfError(
          `member ${m.name === '' ? '(anonymous)' : m.name} of ${t.kind.toLowerCase()} [${id}] starts at bit ${m.bitsOffset}, past its end (${t.size} bytes)`,
          { section: '.BTF', typeId: id },
        );
      const mAlign = packed ? 1 : this.layout.alignOf(m.type);
      parts.push(
        this.layout.padding(
          off,
          m.bitsOffset,
          mAlign,
          prevBitfield && m.bitfieldSize !== 0,
          id,
          `\n${indent}`,
        ),
      );
      parts.push('\n', indent, this.typeDecl(m.type, m.name, lvl + 1));
      if (m.bitfieldSize !== 0) {
        parts.push(`: ${m.bitfieldSize}`);
        off = m.bitsOffset + m.bitfieldSize;
        prevBitfield = true;
      } else {
        off = m.bitsOffset + Math.max(0, this.layout.sizeOf(m.type)) * 8;
        prevBitfield = false;
      }
      parts.push(';');
    }
    if (isStruct) parts.push(this.layout.padding(off, t.size * 8, align, false, id, `\n${indent}`));
    // An empty struct stays on one line.
    parts.push(t.members.length > 0 || t.size > 0 ? `\n${pfx(lvl)}}` : '}');
    if (packed) parts.push(' __attribute__((packed))');
    return parts.join('');
  }

  private enumDef(id: number, t: Enum, lvl: number): string {
    const parts: string[] = [`enum${t.name !== '' ? ' ' : ''}${this.tagName(id)}`];
    if (t.values.length === 0) return parts[0] as string;
    parts.push(' {');
    const indent = pfx(lvl + 1);
    const is64 = t.kind === 'ENUM64';
    for (const v of t.values) {
      const n = bump(this.identCounts, v.name);
      const name = n > 1 ? `${v.name}___${n}` : v.name;
      let value: string;
      if (is64) value = t.signed ? `${BigInt.asIntN(64, v.value)}LL` : `${BigInt.asUintN(64, v.value)}ULL`;
      else value = t.signed ? `${BigInt.asIntN(32, v.value)}` : `${BigInt.asUintN(32, v.value)}`;
      parts.push(`\n${indent}${name} = ${value},`);
    }
    // libbpf 1.1 adds mode(byte)/mode(word) for 1- and 8-byte enums; the bpftool 7.1 build this
    // project matches (Debian's, from Linux 6.1) predates that and writes no size attribute.
    parts.push(`\n${pfx(lvl)}}`);
    return parts.join('');
  }

  private typedefDef(id: number, t: Typedef): string {
    const name = this.identName(id);
    // Old GCC wrote __gnuc_va_list as a typedef of void.
    if (t.type === 0 && name === '__gnuc_va_list') return 'typedef __builtin_va_list __gnuc_va_list';
    return `typedef ${this.typeDecl(t.type, name, 0)}`;
  }

  // Declarators: C writes a type inside-out around the declared name (`int (*f[2])(void)`), so
  // the chain from the declared type down to its base type is collected first, then written
  // from the base type back out.

  private typeDecl(id: number, fname: string, lvl: number): string {
    const ids: number[] = [];
    for (;;) {
      // A prototype's parameters are written out in full at each use, so BTF whose prototypes
      // take other prototypes as parameters, each used twice, doubles the text at each level.
      if (++this.declared > this.maxDeclared)
        throw new BtfError(
          `declarators nest more than C can write (${this.maxDeclared} types written in them)`,
          { typeId: id },
        );
      ids.push(id);
      if (id === 0) break;
      if (ids.length > MAX_DEPTH) throw new BtfError('type reference chain too deep', { typeId: id });
      const t = this.get(id);
      if (
        t.kind === 'PTR' ||
        t.kind === 'VOLATILE' ||
        t.kind === 'CONST' ||
        t.kind === 'RESTRICT' ||
        t.kind === 'TYPE_TAG' ||
        t.kind === 'ARRAY'
      ) {
        id = t.type;
      } else if (t.kind === 'FUNC_PROTO') {
        id = t.returnType;
      } else {
        break;
      }
    }
    const parts: string[] = [];
    this.declChain(parts, { ids, cnt: ids.length }, fname, lvl);
    return parts.join('');
  }

  /** Qualifiers that apply to the base type about to be written go before it: `const int`. */
  private prefixMods(parts: string[], decls: DeclStack): void {
    while (decls.cnt > 0) {
      const t = this.get(decls.ids[decls.cnt - 1] as number);
      if (t.kind === 'VOLATILE') parts.push('volatile ');
      else if (t.kind === 'CONST') parts.push('const ');
      else if (t.kind === 'RESTRICT') parts.push('restrict ');
      else return;
      decls.cnt--;
    }
  }

  /** Qualifiers on an array or function type mean nothing in C (GCC emits them); drop them. */
  private dropMods(decls: DeclStack): void {
    while (decls.cnt > 0) {
      if (!isQualifier(this.get(decls.ids[decls.cnt - 1] as number))) return;
      decls.cnt--;
    }
  }

  private declChain(parts: string[], decls: DeclStack, fname: string, lvl: number): void {
    // A lone pointer that starts a nested chain is written `(*` with no space before it.
    let lastWasPtr = true;
    while (decls.cnt > 0) {
      const id = decls.ids[--decls.cnt] as number;
      const t = this.get(id);
      switch (t.kind) {
        case 'VOID':
          this.prefixMods(parts, decls);
          parts.push('void');
          break;
        case 'INT':
        case 'FLOAT':
          this.prefixMods(parts, decls);
          parts.push(t.name);
          break;
        case 'STRUCT':
        case 'UNION':
          this.prefixMods(parts, decls);
          if (t.name === '' && ++this.inlined > this.maxInlined)
            throw new BtfError(
              `anonymous ${t.kind === 'STRUCT' ? 'struct' : 'union'} [${id}] is used from more places than C can write it (${this.maxInlined} inline definitions written)`,
              { section: '.BTF', typeId: id },
            );
          parts.push(t.name === '' ? this.structDef(id, t, lvl) : this.structFwd(id, t));
          break;
        case 'ENUM':
        case 'ENUM64':
          this.prefixMods(parts, decls);
          parts.push(t.name === '' ? this.enumDef(id, t, lvl) : `enum ${this.tagName(id)}`);
          break;
        case 'FWD':
          this.prefixMods(parts, decls);
          parts.push(`${t.union ? 'union' : 'struct'} ${this.tagName(id)}`);
          break;
        case 'TYPEDEF':
          this.prefixMods(parts, decls);
          parts.push(this.identName(id));
          break;
        case 'PTR':
          parts.push(lastWasPtr ? '*' : ' *');
          break;
        case 'VOLATILE':
          parts.push(' volatile');
          break;
        case 'CONST':
          parts.push(' const');
          break;
        case 'RESTRICT':
          parts.push(' restrict');
          break;
        case 'TYPE_TAG':
          this.prefixMods(parts, decls);
          parts.push(` __attribute__((btf_type_tag("${t.name}")))`);
          break;
        case 'ARRAY': {
          this.dropMods(decls);
          if (decls.cnt === 0) {
            pushName(parts, fname, lastWasPtr);
            parts.push(`[${t.nelems}]`);
            return;
          }
          // Pointers and functions bind looser than [], so they go in parentheses; the inner
          // dimension of a multi-dimensional array needs none.
          const multidim = this.get(decls.ids[decls.cnt - 1] as number).kind === 'ARRAY';
          if (fname !== '' && !lastWasPtr) parts.push(' ');
          if (!multidim) parts.push('(');
          this.declChain(parts, decls, fname, lvl);
          if (!multidim) parts.push(')');
          parts.push(`[${t.nelems}]`);
          return;
        }
        case 'FUNC_PROTO': {
          this.dropMods(decls);
          if (decls.cnt > 0) {
            parts.push(' (');
            this.declChain(parts, decls, fname, lvl);
            parts.push(')');
          } else {
            pushName(parts, fname, lastWasPtr);
          }
          parts.push('(');
          const params = t.params;
          // Clang writes `f(void)` as one void parameter; a trailing void parameter is `...`.
          // The installed bpftool 7.1 carries libbpf's later fix that spells no parameters `(void)`.
          if (params.length === 0 || (params.length === 1 && params[0]?.type === 0)) {
            parts.push('void)');
            return;
          }
          for (let i = 0; i < params.length; i++) {
            const p = params[i] as { name: string; type: number };
            if (i > 0) parts.push(', ');
            if (i === params.length - 1 && p.type === 0) {
              parts.push('...');
              break;
            }
            parts.push(this.typeDecl(p.type, p.name, lvl));
          }
          parts.push(')');
          return;
        }
        default:
          // FUNC, VAR, DATASEC or DECL_TAG cannot be part of a declarator; libbpf writes nothing.
          return;
      }
      lastWasPtr = t.kind === 'PTR';
    }
    pushName(parts, fname, lastWasPtr);
  }
}

/** The declared name ends the declarator; after a `*` it needs no space. */
function pushName(parts: string[], fname: string, lastWasPtr: boolean): void {
  if (fname !== '' && !lastWasPtr) parts.push(' ');
  parts.push(fname);
}

function bump(counts: Map<string, number>, name: string): number {
  const n = (counts.get(name) ?? 0) + 1;
  counts.set(name, n);
  return n;
}

/** Indentation: one tab per level, at most 13 as libbpf caps it. */
function pfx(lvl: number): string {
  return TABS[Math.min(lvl, 13)] as string;
}
const TABS = Array.from({ length: 14 }, (_, i) => '\t'.repeat(i));
