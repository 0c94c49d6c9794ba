// Codecs between the bytes of a map key/value (or a global variable) and JS values, compiled once
// per BTF type into closures; raw byte codecs for maps without BTF.
import { EbpfError } from '../errors.js';
import { HOST_LITTLE_ENDIAN } from '../host.js';
import { BTF_INT_BOOL, BTF_INT_SIGNED, type Member, type Type, type Void } from './types.js';
import { isCharElement, typedArrayFor, type TypedArrayName } from './value-rules.js';
import { skipQualifiers, skips, type SkipOptions } from './walk.js';
import { compileNode, type Checks, type CompiledNode, type Plan } from './codegen.js';

/** What a codec needs from BTF: id → type, and the byte order the types describe. */
export interface TypeSource {
  type(id: number): Type | Void;
  readonly littleEndian: boolean;
}

/** A value that does not fit its type (wrong JS type, out of range, missing field...). */
export class CodecError extends EbpfError {
  /** Where in the value: `value.bytes`, `key.addr[2]`. */
  readonly path: string;
  /** The message without the path and location. */
  readonly reason: string;
  constructor(reason: string, path: string, typeId?: number) {
    super(`${path}: ${reason}`, typeId === undefined ? {} : { typeId });
    this.path = path;
    this.reason = reason;
  }
}

/** Encoder/decoder for one type. */
export interface Codec<T = unknown> {
  /** Bytes the type occupies. */
  readonly size: number;
  /** BTF type id, 0 for a raw codec. */
  readonly typeId: number;
  /**
   * True for rawCodec: a decoded value is nothing but a copy of the bytes, so a caller that owns a
   * fresh buffer (a batch read) may hand out views of it instead.
   */
  readonly raw?: boolean;
  /** Decode `size` bytes at `offset` of `bytes`. */
  decode(bytes: Uint8Array, offset?: number): T;
  /** Decode from a view the caller keeps (no allocation besides the result). */
  decodeView(view: DataView, offset: number): T;
  /**
   * Encode into `out` at `offset` (a new buffer when `out` is absent) and return `out`.
   * A Uint8Array of exactly `size` bytes is always accepted and copied as is.
   */
  encode(value: unknown, out?: Uint8Array, offset?: number): Uint8Array;
  /** Encode into a view the caller keeps; the `size` bytes at `offset` are overwritten. */
  encodeView(value: unknown, view: DataView, offset: number): void;
}

/** The error thrown inside a compiled writer; the path grows as it unwinds to the root. */
class PathError extends Error {
  constructor(
    readonly reason: string,
    public path: string,
    readonly typeId: number | undefined,
  ) {
    super(reason);
  }
}

interface Node {
  size: number;
  /** Bytes from its offset the node touches when that is not `size` (a bitfield: size 0). */
  end?: number;
  read(v: DataView, off: number): unknown;
  /** The bytes are zero when called. */
  write(v: DataView, off: number, x: unknown): void;
  /** What the code generator needs to specialise this node (codegen.ts); none: called as is. */
  plan?: Plan;
  /**
   * Some byte patterns do not come back from decode then encode: a bool's bytes other than 0 and
   * 1, a float's NaN payload, a char array's bytes after its NUL, a struct's padding and the bits
   * around its bitfields. A union encodes the widest member given, and among equals one without
   * this, so that its other members read back what they decoded.
   */
  lossy?: boolean;
}

function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function fail(reason: string, typeId?: number): never {
  throw new PathError(reason, '', typeId);
}

function show(x: unknown): string {
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'string') return JSON.stringify(x);
  if (x === null) return 'null';
  if (x instanceof Uint8Array) return `Uint8Array(${x.length})`;
  if (Array.isArray(x)) return `array(${x.length})`;
  return typeof x === 'object' ? 'object' : String(x);
}

function buildCodec(node: Node, typeId: number, root: string, fast?: CompiledNode): Codec {
  const size = node.size;
  /** Bytes a read touches: `size`, or more for a DATASEC not laid out yet (size 0). */
  const need = Math.max(size, node.end ?? 0);
  const wrap = (e: unknown): unknown =>
    e instanceof PathError ? new CodecError(e.reason, root + e.path, e.typeId ?? (typeId || undefined)) : e;
  const zero = (view: DataView, offset: number): void => {
    // Small values are cleared in place rather than through a view.
    if (size > 64) new Uint8Array(view.buffer, view.byteOffset + offset, size).fill(0);
    else for (let i = 0; i < size; i++) view.setUint8(offset + i, 0);
  };
  const fastWrite = fast?.write;
  const fastFull = fast?.full === true;
  const encodeView = (value: unknown, view: DataView, offset: number): void => {
    if (offset < 0 || offset + need > view.byteLength) {
      throw new CodecError(`buffer of ${view.byteLength} bytes has no room for ${need} at ${offset}`, root);
    }
    if (value instanceof Uint8Array) {
      if (value.length !== size) throw new CodecError(`expected ${size} bytes, got ${value.length}`, root);
      new Uint8Array(view.buffer, view.byteOffset + offset, size).set(value);
      return;
    }
    // The specialised writer takes the values it knows at once and gives up (throws) on anything
    // else, having written part of the bytes: the walk below then writes them, or says what is
    // wrong and where, exactly as without it.
    if (fastWrite !== undefined) {
      if (!fastFull) zero(view, offset);
      try {
        fastWrite(view, offset, value);
        return;
      } catch {
        // fall through to the walk
      }
    }
    // Writers expect zeroed bytes.
    zero(view, offset);
    try {
      node.write(view, offset, value);
    } catch (e) {
      throw wrap(e);
    }
  };
  const read = fast?.read ?? node.read;
  const decodeView = (view: DataView, offset: number): unknown => {
    if (offset < 0 || offset + need > view.byteLength) {
      throw new CodecError(`need ${need} bytes at ${offset}, buffer has ${view.byteLength}`, root);
    }
    return read(view, offset);
  };
  return {
    size,
    typeId,
    decodeView,
    encodeView,
    decode: (bytes, offset = 0) => decodeView(viewOf(bytes), offset),
    encode(value, out, offset = 0) {
      const buf = out ?? new Uint8Array(size);
      encodeView(value, viewOf(buf), offset);
      return buf;
    },
  };
}

/**
 * A codec for maps without BTF: decodes to a copy of the bytes. Encoding also takes a number or
 * bigint for 1, 2, 4 and 8 byte sizes, in host byte order as the kernel stores it.
 */
export function rawCodec(size: number, root = 'value'): Codec<Uint8Array> {
  const le = HOST_LITTLE_ENDIAN;
  const node: Node = {
    size,
    // Never ArrayBuffer.prototype.slice: an off-heap backing store per result costs ~10x a small
    // on-heap array. Small values are copied bytewise so that the result is the only allocation.
    read(v, off) {
      if (size > 64) return new Uint8Array(v.buffer, v.byteOffset + off, size).slice();
      const out = new Uint8Array(size);
      for (let i = 0; i < size; i++) out[i] = v.getUint8(off + i);
      return out;
    },
    write(v, off, x) {
      if (typeof x !== 'number' && typeof x !== 'bigint') fail(`expected ${size} bytes, got ${show(x)}`);
      if (size !== 1 && size !== 2 && size !== 4 && size !== 8)
        fail(`a number needs a 1, 2, 4 or 8 byte size, not ${size}`);
      intNode(size, false, le).write(v, off, x);
    },
  };
  return { ...buildCodec(node, 0, root), raw: true } as Codec<Uint8Array>;
}

const cache = new WeakMap<TypeSource, Map<string, Codec>>();

/**
 * The codec for `typeId` in `btf`, compiled on first use and cached per (btf, type, root).
 * `root` names the value in error paths (`key`, `value`, a variable name).
 * Throws CodecError when the type cannot be held in a map (void, function, forward declaration).
 */
export function codecFor(btf: TypeSource, typeId: number, root = 'value'): Codec {
  let perBtf = cache.get(btf);
  if (!perBtf) cache.set(btf, (perBtf = new Map()));
  const k = `${typeId}:${root}`;
  let c = perBtf.get(k);
  if (!c) {
    c = compileCodec(btf, typeId, root, true);
    perBtf.set(k, c);
  }
  return c;
}

/**
 * The codec for `typeId`, uncached. With `specialise`, reading and writing go through functions
 * generated for the type's layout (codegen.ts) where the host allows generating code, and through
 * the walk of closures otherwise; without, always the walk (what the tests compare against).
 */
export function compileCodec(btf: TypeSource, typeId: number, root: string, specialise: boolean): Codec {
  let node: Node;
  try {
    node = new Compiler(btf).node(typeId, 0);
  } catch (e) {
    if (e instanceof PathError) throw new CodecError(e.reason, root + e.path, e.typeId ?? typeId);
    throw e;
  }
  return buildCodec(node, typeId, root, specialise ? compileNode(node, CHECKS) : undefined);
}

// ---- integers ----

function checkNumber(x: unknown, bits: number, signed: boolean): number {
  let n: number;
  if (typeof x === 'number') n = x;
  else if (typeof x === 'bigint') n = Number(x);
  else if (typeof x === 'boolean') n = x ? 1 : 0;
  else return fail(`expected an integer, got ${show(x)}`);
  if (!Number.isInteger(n)) fail(`expected an integer, got ${show(x)}`);
  const lo = signed ? -(2 ** (bits - 1)) : 0;
  const hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (n < lo || n > hi) fail(`${show(x)} is out of range for ${signed ? 's' : 'u'}${bits} [${lo}, ${hi}]`);
  return n;
}

/** [lo, hi] of an integer of `bits` bits, computed once per width: BigInt arithmetic allocates. */
const bigintBounds = new Map<number, readonly [bigint, bigint]>();
function boundsOf(bits: number, signed: boolean): readonly [bigint, bigint] {
  const key = signed ? -bits : bits;
  let r = bigintBounds.get(key);
  if (r === undefined) {
    const b = BigInt(bits);
    r = signed ? [-(1n << (b - 1n)), (1n << (b - 1n)) - 1n] : [0n, (1n << b) - 1n];
    bigintBounds.set(key, r);
  }
  return r;
}

function checkBigint(x: unknown, bits: number, signed: boolean): bigint {
  let n: bigint;
  if (typeof x === 'bigint') n = x;
  else if (typeof x === 'number') {
    if (!Number.isSafeInteger(x)) fail(`expected an integer (a bigint beyond 2^53), got ${show(x)}`);
    n = BigInt(x);
  } else if (typeof x === 'boolean') n = x ? 1n : 0n;
  else return fail(`expected an integer, got ${show(x)}`);
  const [lo, hi] = boundsOf(bits, signed);
  if (n < lo || n > hi) fail(`${show(x)} is out of range for ${signed ? 's' : 'u'}${bits}`);
  return n;
}

function intNode(size: number, signed: boolean, le: boolean): Node {
  const node = intWalkNode(size, signed, le);
  if (size === 1 || size === 2 || size === 4 || size === 8) node.plan = { t: 'int', size, signed, le };
  return node;
}

function intWalkNode(size: number, signed: boolean, le: boolean): Node {
  switch (size) {
    case 1:
      return signed
        ? { size, read: (v, o) => v.getInt8(o), write: (v, o, x) => v.setInt8(o, checkNumber(x, 8, true)) }
        : {
            size,
            read: (v, o) => v.getUint8(o),
            write: (v, o, x) => v.setUint8(o, checkNumber(x, 8, false)),
          };
    case 2:
      return signed
        ? {
            size,
            read: (v, o) => v.getInt16(o, le),
            write: (v, o, x) => v.setInt16(o, checkNumber(x, 16, true), le),
          }
        : {
            size,
            read: (v, o) => v.getUint16(o, le),
            write: (v, o, x) => v.setUint16(o, checkNumber(x, 16, false), le),
          };
    case 4:
      return signed
        ? {
            size,
            read: (v, o) => v.getInt32(o, le),
            write: (v, o, x) => v.setInt32(o, checkNumber(x, 32, true), le),
          }
        : {
            size,
            read: (v, o) => v.getUint32(o, le),
            write: (v, o, x) => v.setUint32(o, checkNumber(x, 32, false), le),
          };
    case 8:
      return signed
        ? {
            size,
            read: (v, o) => v.getBigInt64(o, le),
            write: (v, o, x) => v.setBigInt64(o, checkBigint(x, 64, true), le),
          }
        : {
            size,
            read: (v, o) => v.getBigUint64(o, le),
            write: (v, o, x) => v.setBigUint64(o, checkBigint(x, 64, false), le),
          };
    case 16: {
      const [loOff, hiOff] = le ? [0, 8] : [8, 0];
      return {
        size,
        read(v, o) {
          const u = (v.getBigUint64(o + hiOff, le) << 64n) | v.getBigUint64(o + loOff, le);
          return signed ? BigInt.asIntN(128, u) : u;
        },
        write(v, o, x) {
          const u = BigInt.asUintN(128, checkBigint(x, 128, signed));
          v.setBigUint64(o + loOff, BigInt.asUintN(64, u), le);
          v.setBigUint64(o + hiOff, u >> 64n, le);
        },
      };
    }
    default:
      return fail(`integer of ${size} bytes is not supported`);
  }
}

/**
 * Bits [bitOff, bitOff+bits) counted from the start of the storage at `off`: from the least
 * significant bit of the first byte on little endian, from the most significant on big endian.
 */
function bitfieldNode(bitOff: number, bits: number, signed: boolean, asBigint: boolean, le: boolean): Node {
  const first = bitOff >> 3;
  const span = ((bitOff + bits + 7) >> 3) - first;
  const shift = BigInt(le ? bitOff & 7 : span * 8 - (bitOff & 7) - bits);
  const mask = (1n << BigInt(bits)) - 1n;
  const readRaw = (v: DataView, o: number): bigint => {
    let acc = 0n;
    const base = o + first;
    if (le) for (let i = span - 1; i >= 0; i--) acc = (acc << 8n) | BigInt(v.getUint8(base + i));
    else for (let i = 0; i < span; i++) acc = (acc << 8n) | BigInt(v.getUint8(base + i));
    return (acc >> shift) & mask;
  };
  const writeRaw = (v: DataView, o: number, field: bigint): void => {
    const base = o + first;
    let acc = 0n;
    if (le) for (let i = span - 1; i >= 0; i--) acc = (acc << 8n) | BigInt(v.getUint8(base + i));
    else for (let i = 0; i < span; i++) acc = (acc << 8n) | BigInt(v.getUint8(base + i));
    acc = (acc & ~(mask << shift)) | ((field & mask) << shift);
    for (let i = 0; i < span; i++) {
      const byte = Number((acc >> BigInt(8 * (le ? i : span - 1 - i))) & 0xffn);
      v.setUint8(base + i, byte);
    }
  };
  return {
    size: 0,
    end: first + span,
    read(v, o) {
      const raw = readRaw(v, o);
      const val = signed ? BigInt.asIntN(bits, raw) : raw;
      return asBigint ? val : Number(val);
    },
    write(v, o, x) {
      const val = asBigint ? checkBigint(x, bits, signed) : BigInt(checkNumber(x, bits, signed));
      writeRaw(v, o, BigInt.asUintN(bits, val));
    },
  };
}

// ---- the compiler ----

interface Field {
  name: string;
  node: Node;
  offset: number;
}

const MAX_DEPTH = 64;
/** A value's type is what its typedefs, qualifiers and VAR stand for. */
const RESOLVE: SkipOptions = { typedefs: true, vars: true };

class Compiler {
  private readonly le: boolean;
  constructor(private readonly btf: TypeSource) {
    this.le = btf.littleEndian;
  }

  private type(id: number): Type | Void {
    try {
      return this.btf.type(id);
    } catch (e) {
      if (e instanceof EbpfError) return fail(e.message, id);
      throw e;
    }
  }

  /** Skip typedefs, qualifiers, type tags and VARs. */
  resolve(id: number): Type | Void {
    const t = skipQualifiers((i) => this.type(i), id, RESOLVE);
    return skips(t, RESOLVE) ? fail('type chain too deep (a loop?)', id) : t;
  }

  node(id: number, depth: number): Node {
    if (depth > MAX_DEPTH) fail('type nesting too deep (a loop?)', id);
    const t = this.resolve(id);
    switch (t.kind) {
      case 'INT':
        if (t.bitsOffset + t.bits > t.size * 8)
          fail(
            `integer of ${t.size} bytes has bits [${t.bitsOffset}, ${t.bitsOffset + t.bits}) past its end`,
            t.id,
          );
        if (t.bitsOffset !== 0 || t.bits !== t.size * 8) {
          return { ...this.intBitfield(t, t.bitsOffset, t.bits), size: t.size, lossy: true };
        }
        if (t.encoding & BTF_INT_BOOL) return boolNode(t.size, this.le);
        return intNode(t.size, (t.encoding & BTF_INT_SIGNED) !== 0, this.le);
      case 'PTR':
        return intNode(8, false, this.le);
      case 'ENUM':
      case 'ENUM64':
        return enumNode(t.size, t.signed, t.values, this.le, t.id);
      case 'FLOAT':
        return floatNode(t.size, this.le);
      case 'ARRAY':
        return this.array(t.type, t.nelems, depth);
      case 'STRUCT':
      case 'UNION':
        return this.struct(t, depth);
      case 'DATASEC': {
        const fields: Field[] = [];
        for (const vs of t.vars) {
          const v = this.type(vs.type);
          if (v.kind !== 'VAR') continue;
          fields.push({ name: v.name, node: this.node(vs.type, depth + 1), offset: vs.offset });
        }
        if (t.size > 0) {
          within(t, fields);
          return structNode(t.size, fields, [], false);
        }
        // An object's DATASEC has size 0 until a loader lays it out: it keeps size 0 (a map
        // value of another size is read as bytes), but reads stay inside what its variables need.
        const end = Math.max(0, ...fields.map((f) => f.offset + (f.node.end ?? f.node.size)));
        return { ...structNode(0, fields, [], false), end };
      }
      default:
        return fail(`a ${t.kind} type has no value representation`, t.id);
    }
  }

  private intBitfield(t: Type & { kind: 'INT' }, bitOff: number, bits: number): Node {
    return bitfieldNode(bitOff, bits, (t.encoding & BTF_INT_SIGNED) !== 0, t.size > 4, this.le);
  }

  private array(elemId: number, n: number, depth: number): Node {
    if (isCharElement((id) => this.type(id), elemId)) return stringNode(n);
    const et = this.resolve(elemId);
    const elem = this.node(elemId, depth + 1);
    const esize = elem.size;
    const array = typedArrayFor(et);
    if (array !== undefined) return typedArrayNode(TYPED_ARRAYS[array], n, elem);
    return {
      size: esize * n,
      plan: { t: 'array', n, elem },
      ...(elem.lossy === true ? { lossy: true } : {}),
      read(v, o) {
        const out: unknown[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = elem.read(v, o + i * esize);
        return out;
      },
      write(v, o, x) {
        if (!Array.isArray(x)) fail(`expected an array of ${n}, got ${show(x)}`);
        if (x.length !== n) fail(`expected ${n} elements, got ${x.length}`);
        for (let i = 0; i < n; i++) {
          try {
            elem.write(v, o + i * esize, x[i]);
          } catch (e) {
            throw prefix(e, `[${i}]`);
          }
        }
      },
    };
  }

  private struct(t: Type & { kind: 'STRUCT' | 'UNION' }, depth: number): Node {
    const fields: Field[] = [];
    const inline: Field[] = [];
    /** Bits each member holds, [start, end): a struct's must not overlap (see below). */
    const spans: { name: string; start: number; end: number }[] = [];
    for (const m of t.members) {
      const byteOff = m.bitsOffset >> 3;
      const mt = this.resolve(m.type);
      let node: Node;
      if (m.name === '') {
        // Anonymous struct/union: its members read and write as the parent's, as in C.
        if (mt.kind !== 'STRUCT' && mt.kind !== 'UNION') continue; // unnamed padding bitfield
        node = this.node(m.type, depth + 1);
        inline.push({ name: '', node, offset: byteOff });
      } else {
        node = this.member(m, mt, depth);
        fields.push({ name: m.name, node, offset: byteOff });
      }
      let bits = m.bitfieldSize;
      if (bits === 0) bits = mt.kind === 'INT' && mt.bits !== mt.size * 8 ? mt.bits : node.size * 8;
      spans.push({
        name: m.name === '' ? 'anonymous member' : `'${m.name}'`,
        start: m.bitsOffset,
        end: m.bitsOffset + bits,
      });
    }
    // Members of a struct that share bits (a damaged file; no compiler makes them, though the
    // kernel only checks that offsets do not decrease) cannot all be written back: writing one
    // changes what the other decodes to.
    if (t.kind === 'STRUCT') {
      spans.sort((a, b) => a.start - b.start || a.end - b.end);
      for (let i = 1; i < spans.length; i++) {
        const [a, b] = [spans[i - 1]!, spans[i]!];
        if (b.start < a.end && b.end > b.start && a.end > a.start)
          fail(
            `member ${b.name} (bits ${b.start}..${b.end}) overlaps member ${a.name} (bits ${a.start}..${a.end})`,
            t.id,
          );
      }
    }
    within(t, fields);
    within(t, inline);
    return structNode(t.size, fields, inline, t.kind === 'UNION');
  }

  private member(m: Member, mt: Type | Void, depth: number): Node {
    const bitIn = m.bitsOffset & 7;
    if (
      m.bitfieldSize === 0 &&
      bitIn === 0 &&
      !(mt.kind === 'INT' && (mt.bitsOffset !== 0 || mt.bits !== mt.size * 8))
    ) {
      return this.node(m.type, depth + 1);
    }
    // A bitfield: from the member (kind_flag) or from the INT's own offset/bits (old encoding).
    let bits = m.bitfieldSize;
    let off = bitIn;
    if (mt.kind === 'INT') {
      if (bits === 0) {
        bits = mt.bits;
        off += mt.bitsOffset;
      }
      return this.intBitfield(mt, off, bits);
    }
    if (mt.kind === 'ENUM' || mt.kind === 'ENUM64') {
      const raw = bitfieldNode(off, bits, mt.signed, mt.size > 4, this.le);
      return enumOver(raw, mt.values, mt.size, mt.signed, mt.id);
    }
    return fail(`bitfield member '${m.name}' of kind ${mt.kind} is not supported`, mt.id);
  }
}

/**
 * Every field inside its struct, union or section: the codec reads and writes `size` bytes, so a
 * member BTF places past them (the kernel refuses such BTF; a damaged file has it) is refused here
 * rather than read from beyond the value.
 */
function within(t: { kind: string; id: number; size: number }, fields: readonly Field[]): void {
  for (const f of fields) {
    const end = f.offset + (f.node.end ?? f.node.size);
    if (f.offset < 0 || end > t.size)
      fail(
        `${f.name === '' ? 'anonymous member' : `member '${f.name}'`} at byte ${f.offset} ends at byte ${end}, past the ${t.kind.toLowerCase()}'s ${t.size} bytes`,
        t.id,
      );
  }
}

function prefix(e: unknown, seg: string): unknown {
  if (e instanceof PathError) e.path = seg + e.path;
  return e;
}

function boolNode(size: number, le: boolean): Node {
  const int = intNode(size, false, le);
  return {
    size,
    lossy: true,
    read: (v, o) => int.read(v, o) !== 0 && int.read(v, o) !== 0n,
    write(v, o, x) {
      if (typeof x !== 'boolean' && x !== 0 && x !== 1) fail(`expected a boolean, got ${show(x)}`);
      int.write(v, o, size === 8 ? BigInt(Number(x)) : Number(x));
    },
  };
}

function checkFloat(x: unknown): number {
  if (typeof x !== 'number') fail(`expected a number, got ${show(x)}`);
  return x;
}

function floatNode(size: number, le: boolean): Node {
  const num = checkFloat;
  if (size === 4) {
    return {
      size,
      lossy: true,
      read: (v, o) => v.getFloat32(o, le),
      write: (v, o, x) => v.setFloat32(o, num(x), le),
      plan: { t: 'float', size, le },
    };
  }
  if (size === 8) {
    return {
      size,
      lossy: true,
      read: (v, o) => v.getFloat64(o, le),
      write: (v, o, x) => v.setFloat64(o, num(x), le),
      plan: { t: 'float', size, le },
    };
  }
  // half and long double have no JS number type: their bytes.
  return {
    size,
    read: (v, o) => new Uint8Array(v.buffer.slice(v.byteOffset + o, v.byteOffset + o + size)),
    write(v, o, x) {
      if (!(x instanceof Uint8Array) || x.length !== size)
        fail(`expected ${size} bytes for a float of ${size}`);
      new Uint8Array(v.buffer, v.byteOffset + o, size).set(x);
    },
  };
}

function enumNode(
  size: number,
  signed: boolean,
  values: { name: string; value: bigint }[],
  le: boolean,
  id: number,
): Node {
  return { ...enumOver(intNode(size, signed, le), values, size, signed, id), size };
}

/** Enumerator names over an integer node: decode to the name when one matches, else the number. */
function enumOver(
  int: Node,
  values: { name: string; value: bigint }[],
  size: number,
  signed: boolean,
  id: number,
): Node {
  const bits = size * 8;
  const big = size > 4;
  const byValue = new Map<string, string>();
  const byName = new Map<string, number | bigint>();
  for (const e of values) {
    const v = signed ? BigInt.asIntN(bits, e.value) : BigInt.asUintN(bits, e.value);
    if (!byValue.has(v.toString())) byValue.set(v.toString(), e.name);
    byName.set(e.name, big ? v : Number(v));
  }
  return {
    size: int.size,
    ...(int.end !== undefined && { end: int.end }),
    read(v, o) {
      const n = int.read(v, o) as number | bigint;
      return byValue.get(n.toString()) ?? n;
    },
    write(v, o, x) {
      if (typeof x === 'string') {
        const n = byName.get(x);
        if (n === undefined) fail(`unknown enumerator '${x}' (known: ${[...byName.keys()].join(', ')})`, id);
        int.write(v, o, n);
      } else int.write(v, o, x);
    },
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

function stringNode(n: number): Node {
  return {
    size: n,
    lossy: true,
    read(v, o) {
      const bytes = new Uint8Array(v.buffer, v.byteOffset + o, n);
      const end = bytes.indexOf(0);
      return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
    },
    write(v, o, x) {
      const dst = new Uint8Array(v.buffer, v.byteOffset + o, n);
      if (typeof x === 'string') {
        const r = encoder.encodeInto(x, dst);
        if (r.read !== x.length)
          fail(`string of ${encoder.encode(x).length} bytes is too long for char[${n}]`);
        return;
      }
      if (x instanceof Uint8Array || Array.isArray(x)) {
        if (x.length > n) fail(`${x.length} bytes are too many for char[${n}]`);
        for (let i = 0; i < x.length; i++) dst[i] = checkNumber(x[i], 8, false);
        return;
      }
      fail(`expected a string for char[${n}], got ${show(x)}`);
    },
  };
}

type NumericArrayCtor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | BigUint64ArrayConstructor
  | BigInt64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

const TYPED_ARRAYS: Readonly<Record<TypedArrayName, NumericArrayCtor>> = {
  Int8Array,
  Uint8Array,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  BigInt64Array,
  BigUint64Array,
  Float32Array,
  Float64Array,
};

/** Numeric elements decode to a typed array (values in host order, read through the element node). */
function typedArrayNode(ctor: NumericArrayCtor, n: number, elem: Node): Node {
  const esize = elem.size;
  return {
    size: esize * n,
    plan: { t: 'tarray', ctor, n, elem },
    ...(elem.lossy === true ? { lossy: true } : {}),
    read(v, o) {
      const out = new ctor(n);
      const w = out as unknown as { [i: number]: unknown };
      for (let i = 0; i < n; i++) w[i] = elem.read(v, o + i * esize);
      return out;
    },
    write(v, o, x) {
      if (!ArrayBuffer.isView(x) && !Array.isArray(x)) fail(`expected an array of ${n}, got ${show(x)}`);
      const arr = x as unknown as ArrayLike<unknown>;
      if (arr.length !== n) fail(`expected ${n} elements, got ${arr.length}`);
      for (let i = 0; i < n; i++) {
        try {
          elem.write(v, o + i * esize, arr[i]);
        } catch (e) {
          throw prefix(e, `[${i}]`);
        }
      }
    },
  };
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x);
}

/**
 * Whether a struct's decode then encode may change its bytes: a lossy field, a bitfield, or a
 * byte no field covers (padding). A union is lossy when no member covering all of it is exact.
 */
function structLossy(size: number, fields: readonly Field[], union: boolean): boolean {
  if (union) return !fields.some((f) => f.offset === 0 && f.node.size === size && f.node.lossy !== true);
  if (fields.some((f) => f.node.lossy === true || f.node.size === 0)) return true;
  let end = 0;
  for (const f of [...fields].sort((a, b) => a.offset - b.offset)) {
    if (f.offset > end) return true;
    end = Math.max(end, f.offset + f.node.size);
  }
  return end < size;
}

/** A struct (all fields) or union (decode all members; encode the member given). */
function structNode(
  size: number,
  fields: Field[],
  inline: Field[],
  union: boolean,
): Node & { names: Set<string> } {
  const names = new Set<string>(fields.map((f) => f.name));
  const inlineNames = inline.map((f) => (f.node as { names?: Set<string> }).names ?? new Set<string>());
  for (const s of inlineNames) for (const nm of s) names.add(nm);
  const readInto = (v: DataView, o: number, out: Record<string, unknown>): void => {
    for (const f of fields) out[f.name] = f.node.read(v, o + f.offset);
    for (const f of inline) (f.node as InlineNode).readInto(v, o + f.offset, out);
  };
  const hasAny = (x: Record<string, unknown>, s: Set<string>): boolean => {
    for (const nm of s) if (x[nm] !== undefined) return true;
    return false;
  };
  // A union given several members (as decode returns them) writes the widest, which covers the
  // most bytes; among equals one whose decode and encode keep every byte, so its other members
  // read back what they decoded; then the first declared (named members before anonymous ones).
  const preference = union
    ? [
        ...fields.map((field) => ({ field, inline: undefined as number | undefined })),
        ...inline.map((field, i) => ({ field, inline: i as number | undefined })),
      ].sort(
        (a, b) =>
          b.field.node.size - a.field.node.size ||
          Number(a.field.node.lossy === true) - Number(b.field.node.lossy === true),
      )
    : [];
  const writeFrom = (v: DataView, o: number, x: Record<string, unknown>): void => {
    if (union) {
      // One member given is written: the first given in the order of `preference`.
      for (const p of preference) {
        if (p.inline !== undefined) {
          if (!hasAny(x, inlineNames[p.inline]!)) continue;
          (p.field.node as InlineNode).writeFrom(v, o + p.field.offset, x);
          return;
        }
        if (x[p.field.name] === undefined) continue;
        try {
          p.field.node.write(v, o + p.field.offset, x[p.field.name]);
        } catch (e) {
          throw prefix(e, `.${p.field.name}`);
        }
        return;
      }
      if (names.size > 0) fail(`union needs one of: ${[...names].join(', ')}`);
      return;
    }
    for (const f of fields) {
      const fx = x[f.name];
      if (fx === undefined) fail(`missing field '${f.name}'`);
      try {
        f.node.write(v, o + f.offset, fx);
      } catch (e) {
        throw prefix(e, `.${f.name}`);
      }
    }
    for (const f of inline) (f.node as InlineNode).writeFrom(v, o + f.offset, x);
  };
  const node: InlineNode = {
    size,
    names,
    ...(structLossy(size, [...fields, ...inline], union) ? { lossy: true } : {}),
    ...(union || inline.length > 0 ? {} : { plan: { t: 'struct' as const, fields, names } }),
    readInto,
    writeFrom,
    read(v, o) {
      const out: Record<string, unknown> = {};
      readInto(v, o, out);
      return out;
    },
    write(v, o, x) {
      if (!isPlainObject(x)) fail(`expected an object with ${[...names].join(', ')}, got ${show(x)}`);
      for (const k in x) if (!names.has(k)) fail(`unknown field '${k}' (fields: ${[...names].join(', ')})`);
      writeFrom(v, o, x);
    },
  };
  return node;
}

/** What the generated writers call for the checks they do not make inline. */
const CHECKS: Checks = { checkNumber, checkBigint, float: checkFloat, isPlainObject };

interface InlineNode extends Node {
  names: Set<string>;
  readInto(v: DataView, o: number, out: Record<string, unknown>): void;
  writeFrom(v: DataView, o: number, x: Record<string, unknown>): void;
}
