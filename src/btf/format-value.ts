// Map keys and values as bpftool prints them: its BTF value dumper's rules (`formatted` in
// `bpftool -j map dump`) and its JSON writer's layout, duplicate member names included.
import { BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, type Type, type Void } from './types.js';
import type { TypeSource } from './codec.js';
import { CodecError } from './codec.js';
import { isCharElement } from './value-rules.js';

/** A JSON tree that keeps keys in order and allows duplicates (anonymous members are all ""). */
export type Json = JsonToken | Json[] | JsonObject;
/** Literal JSON text: a number, a quoted string, true/false. */
export class JsonToken {
  constructor(readonly text: string) {}
}
export class JsonObject {
  constructor(readonly entries: [string, Json][] = []) {}
  add(name: string, value: Json): this {
    this.entries.push([name, value]);
    return this;
  }
}

export interface FormatOptions {
  /**
   * bpftool's plain-text variant (`bpftool map dump` without -j): pointers, unprintable chars,
   * 128-bit ints and bitfields as bare hex (not JSON). Default false (the `-j` variant).
   */
  plain?: boolean;
}

const MAX_DEPTH = 64;

/** Format the value of type `typeId` at `offset` in `bytes` the way bpftool's BTF dumper does. */
export function formatBtf(
  btf: TypeSource,
  typeId: number,
  bytes: Uint8Array,
  offset = 0,
  opts: FormatOptions = {},
): Json {
  return new Formatter(btf, bytes, opts.plain ?? false).type(typeId, 0, offset, 0);
}

/** Bytes as bpftool's JSON hex list: ["0x0a","0x00",...]. */
export function hexList(bytes: Uint8Array): Json {
  return Array.from(bytes, (b) => new JsonToken(`"0x${b.toString(16).padStart(2, '0')}"`));
}

/** A JS value as a Json tree (bigint as a bare number, Uint8Array and typed arrays as arrays). */
export function fromJs(x: unknown): Json {
  if (x === null || x === undefined) return new JsonToken('null');
  if (typeof x === 'bigint' || typeof x === 'number' || typeof x === 'boolean')
    return new JsonToken(String(x));
  if (typeof x === 'string') return new JsonToken(quote(x));
  if (Array.isArray(x)) return x.map(fromJs);
  if (ArrayBuffer.isView(x) && !(x instanceof DataView)) {
    return Array.from(x as unknown as ArrayLike<unknown>, fromJs);
  }
  const o = new JsonObject();
  for (const [k, v] of Object.entries(x as Record<string, unknown>)) o.add(k, fromJs(v));
  return o;
}

/**
 * JSON string quoting as bpftool's writer does it (C escapes; other bytes as they are). bpftool
 * 7.1 writes a backslash as `\n` (a bug fixed later); this writes `\\`.
 */
export function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    switch (ch) {
      case '\t':
        out += '\\t';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\f':
        out += '\\f';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\\':
        out += '\\\\';
        break;
      case '"':
        out += '\\"';
        break;
      default:
        out += ch;
    }
  }
  return out + '"';
}

/**
 * Write a Json tree as text. Compact is what `bpftool -j` prints; pretty follows bpftool's
 * pretty writer (4-space indent, names on new lines, array elements run on one line).
 */
export function writeJson(j: Json, pretty = false, depth = 0): string {
  const w = new Writer(pretty, depth);
  w.value(j);
  return w.out;
}

class Writer {
  out = '';
  private sep = false;
  constructor(
    private readonly pretty: boolean,
    private depth: number,
  ) {}
  private eol(): void {
    if (this.pretty) this.out += '\n' + '    '.repeat(this.depth);
  }
  private eor(): void {
    if (this.sep) this.out += ',';
    this.sep = true;
  }
  value(j: Json): void {
    if (j instanceof JsonToken) {
      this.eor();
      this.out += j.text;
    } else if (Array.isArray(j)) {
      this.begin('[');
      for (const e of j) this.value(e);
      this.end(']');
    } else {
      this.begin('{');
      for (const [k, v] of j.entries) {
        this.eor();
        this.eol();
        this.sep = false;
        this.out += quote(k) + (this.pretty ? ': ' : ':');
        this.value(v);
      }
      this.end('}');
    }
  }
  private begin(c: string): void {
    this.eor();
    this.out += c;
    this.depth++;
    this.sep = false;
  }
  private end(c: string): void {
    this.depth--;
    if (this.sep) this.eol();
    this.out += c;
    this.sep = true;
  }
}

class Formatter {
  private readonly view: DataView;
  private readonly le: boolean;
  constructor(
    private readonly btf: TypeSource,
    private readonly bytes: Uint8Array,
    private readonly plain: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.le = btf.littleEndian;
  }

  private get(id: number): Type | Void {
    try {
      return this.btf.type(id);
    } catch (e) {
      throw new CodecError(e instanceof Error ? e.message : String(e), 'value', id);
    }
  }

  private check(off: number, size: number, id: number): void {
    if (off < 0 || off + size > this.bytes.length) {
      throw new CodecError(`type needs ${size} bytes at ${off}, have ${this.bytes.length}`, 'value', id);
    }
  }

  /** Byte size of a type, through typedefs and qualifiers. */
  size(id: number, depth = 0): number {
    if (depth > MAX_DEPTH) throw new CodecError('type chain too deep', 'value', id);
    const t = this.get(id);
    switch (t.kind) {
      case 'INT':
      case 'ENUM':
      case 'ENUM64':
      case 'FLOAT':
      case 'STRUCT':
      case 'UNION':
      case 'DATASEC':
        return t.size;
      case 'PTR':
        return 8;
      case 'ARRAY':
        return t.nelems * this.size(t.type, depth + 1);
      case 'TYPEDEF':
      case 'CONST':
      case 'VOLATILE':
      case 'RESTRICT':
      case 'TYPE_TAG':
      case 'VAR':
        return this.size(t.type, depth + 1);
      default:
        throw new CodecError(`a ${t.kind} has no size`, 'value', id);
    }
  }

  type(id: number, bitOff: number, off: number, depth: number): Json {
    if (depth > MAX_DEPTH) throw new CodecError('type nesting too deep', 'value', id);
    const t = this.get(id);
    switch (t.kind) {
      case 'VOID':
        return new JsonToken('(unknown)');
      case 'INT':
        return this.int(t, bitOff, off);
      case 'STRUCT':
      case 'UNION': {
        this.check(off, t.size, id);
        const o = new JsonObject();
        for (const m of t.members) {
          const at = off + (m.bitsOffset >> 3);
          const bit = m.bitsOffset & 7;
          o.add(
            m.name,
            m.bitfieldSize ? this.bitfield(m.bitfieldSize, bit, at) : this.type(m.type, bit, at, depth + 1),
          );
        }
        return o;
      }
      case 'ARRAY': {
        const esize = this.size(t.type);
        this.check(off, esize * t.nelems, id);
        const s = this.charArray(t.type, t.nelems, off);
        if (s !== undefined) return new JsonToken(quote(s));
        const out: Json[] = [];
        for (let i = 0; i < t.nelems; i++) out.push(this.type(t.type, 0, off + i * esize, depth + 1));
        return out;
      }
      case 'ENUM':
      case 'ENUM64':
        return this.enumValue(t, off);
      case 'PTR': {
        this.check(off, 8, id);
        const v = this.view.getBigUint64(off, this.le);
        if (!this.plain) return new JsonToken(v.toString());
        return new JsonToken(v === 0n ? '(nil)' : `0x${v.toString(16)}`);
      }
      case 'FWD':
        return new JsonToken('(fwd-kind-invalid)');
      case 'TYPEDEF':
      case 'VOLATILE':
      case 'CONST':
      case 'RESTRICT':
      case 'TYPE_TAG':
        return this.type(t.type, bitOff, off, depth + 1);
      case 'VAR':
        return new JsonObject().add(t.name, this.type(t.type, bitOff, off, depth + 1));
      case 'DATASEC': {
        const vars: Json[] = [];
        for (const v of t.vars) vars.push(this.type(v.type, 0, off + v.offset, depth + 1));
        return new JsonObject().add(t.name, vars);
      }
      case 'FLOAT':
        // bpftool has no float support (it prints "(unsupported-kind)", which is not JSON): a number.
        this.check(off, t.size, id);
        if (t.size === 4) return new JsonToken(jsNumber(this.view.getFloat32(off, this.le)));
        if (t.size === 8) return new JsonToken(jsNumber(this.view.getFloat64(off, this.le)));
        return new JsonToken('"(unsupported-kind)"');
      default:
        return new JsonToken('"(unsupported-kind)"');
    }
  }

  /** The element is a one-byte int named char or with CHAR encoding, and the bytes hold a C string. */
  private charArray(elemId: number, n: number, off: number): string | undefined {
    if (n === 0) return undefined;
    if (!isCharElement((id) => this.get(id), elemId)) return undefined;
    for (let i = 0; i < n; i++) {
      const b = this.bytes[off + i]!;
      if (b === 0) return String.fromCharCode(...this.bytes.subarray(off, off + i));
      if (b <= 0x1f || b >= 0x7f) return undefined;
    }
    return undefined;
  }

  private int(t: Type & { kind: 'INT' }, bitOff: number, off: number): Json {
    const bits = t.bits;
    if (bitOff || t.bitsOffset || bits & 7) {
      const total = bitOff + t.bitsOffset;
      return this.bitfield(bits, total & 7, off + (total >> 3));
    }
    this.check(off, bits >> 3, t.id);
    if (bits === 128) return this.hex(this.u128(off));
    const v = this.view;
    const le = this.le;
    const enc = t.encoding;
    if (enc === 0 || enc === BTF_INT_SIGNED) {
      const signed = enc === BTF_INT_SIGNED;
      switch (bits) {
        case 64:
          return new JsonToken((signed ? v.getBigInt64(off, le) : v.getBigUint64(off, le)).toString());
        case 32:
          return new JsonToken(String(signed ? v.getInt32(off, le) : v.getUint32(off, le)));
        case 16:
          return new JsonToken(String(signed ? v.getInt16(off, le) : v.getUint16(off, le)));
        case 8:
          return new JsonToken(String(signed ? v.getInt8(off) : v.getUint8(off)));
        default:
          return this.bitfield(bits, 0, off);
      }
    }
    if (enc === BTF_INT_CHAR) {
      const c = v.getUint8(off);
      if (c >= 0x20 && c < 0x7f) return new JsonToken(`"${String.fromCharCode(c)}"`);
      const hex = c.toString(16).padStart(2, '0');
      return new JsonToken(this.plain ? `0x${c.toString(16)}` : `"\\u00${hex}"`);
    }
    if (enc === BTF_INT_BOOL) return new JsonToken(v.getUint8(off) !== 0 ? 'true' : 'false');
    return new JsonToken(String(v.getUint8(off)));
  }

  private u128(off: number): bigint {
    const [lo, hi] = this.le ? [off, off + 8] : [off + 8, off];
    return (this.view.getBigUint64(hi, this.le) << 64n) | this.view.getBigUint64(lo, this.le);
  }

  private hex(v: bigint): Json {
    const s = `0x${v.toString(16)}`;
    return new JsonToken(this.plain ? s : `"${s}"`);
  }

  /** `bits` bits starting `bitOff` bits into the byte at `off`, unsigned, as hex. */
  private bitfield(bits: number, bitOff: number, off: number): Json {
    const span = (bitOff + bits + 7) >> 3;
    this.check(off, span, 0);
    let acc = 0n;
    if (this.le) for (let i = span - 1; i >= 0; i--) acc = (acc << 8n) | BigInt(this.bytes[off + i]!);
    else for (let i = 0; i < span; i++) acc = (acc << 8n) | BigInt(this.bytes[off + i]!);
    const shift = this.le ? bitOff : span * 8 - bitOff - bits;
    return this.hex((acc >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
  }

  private enumValue(t: Type & { kind: 'ENUM' | 'ENUM64' }, off: number): Json {
    this.check(off, t.size, t.id);
    const v = this.view;
    const le = this.le;
    if (t.kind === 'ENUM64') {
      const raw = v.getBigUint64(off, le);
      for (const e of t.values) if (BigInt.asUintN(64, e.value) === raw) return new JsonToken(quote(e.name));
      return new JsonToken(BigInt.asIntN(64, raw).toString());
    }
    let raw: bigint;
    switch (t.size) {
      case 8:
        raw = v.getBigInt64(off, le);
        break;
      case 4:
        raw = BigInt(v.getInt32(off, le));
        break;
      case 2:
        raw = BigInt(v.getInt16(off, le));
        break;
      case 1:
        raw = BigInt(v.getInt8(off));
        break;
      default:
        throw new CodecError(`enum of ${t.size} bytes`, 'value', t.id);
    }
    for (const e of t.values) if (BigInt.asIntN(32, e.value) === raw) return new JsonToken(quote(e.name));
    return new JsonToken(raw.toString());
  }
}

function jsNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : `"${n}"`;
}

/**
 * One map entry as bpftool's BTF dump shows it: `{"key": .., "value": ..}`, or for per-CPU maps
 * `{"key": .., "values": [{"cpu": 0, "value": ..}, ..]}`; no key when the map has no key type.
 */
export function formatEntry(
  btf: TypeSource,
  keyTypeId: number,
  valueTypeId: number,
  key: Uint8Array | undefined,
  value: Uint8Array | Uint8Array[],
  opts: FormatOptions = {},
): JsonObject {
  const o = new JsonObject();
  if (keyTypeId && key) o.add('key', formatBtf(btf, keyTypeId, key, 0, opts));
  if (Array.isArray(value)) {
    o.add(
      'values',
      value.map((v, cpu) =>
        new JsonObject()
          .add('cpu', new JsonToken(String(cpu)))
          .add('value', formatBtf(btf, valueTypeId, v, 0, opts)),
      ),
    );
  } else o.add('value', formatBtf(btf, valueTypeId, value, 0, opts));
  return o;
}
