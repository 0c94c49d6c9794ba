// The BTF string section: reading NUL-terminated names by offset, and building a deduplicated one.
import { BtfError, type Location } from '../errors.js';
import { decodeText, readCString } from '../internal/cstring.js';

const encoder = new TextEncoder();

/**
 * A read-only view of one string section. Offsets below `start` belong to the base BTF's
 * table (split BTF continues the base's offsets), so lookups are delegated there.
 */
export class StringTable {
  /** Offset at which this table's own strings begin (the base's total length, or 0). */
  readonly start: number;
  private index: Map<string, number> | undefined;

  constructor(
    readonly bytes: Uint8Array,
    readonly base: StringTable | undefined,
    private readonly location: Location,
  ) {
    this.start = base ? base.end : 0;
    if (bytes.length > 0 && bytes[bytes.length - 1] !== 0) {
      throw new BtfError('string section does not end with NUL', location);
    }
    // Offset 0 must be the empty name; a split table relies on its base for that.
    if (!base && (bytes.length === 0 || bytes[0] !== 0)) {
      throw new BtfError('string section does not start with an empty string', location);
    }
  }

  /** One past the last offset this table (with its base) can resolve. */
  get end(): number {
    return this.start + this.bytes.length;
  }

  /** The string at `off`; a BtfError when the offset is outside the table. */
  get(off: number): string {
    if (off < this.start) {
      if (this.base) return this.base.get(off);
    }
    const local = off - this.start;
    const b = this.bytes;
    if (!(local >= 0 && local < b.length)) {
      throw new BtfError(`string offset ${off} outside string section (size ${this.end})`, this.location);
    }
    if (b[local] === 0) return '';
    // Nearly every name is short ASCII: build it directly, without a subarray or TextDecoder.
    let s = '';
    for (let i = local; ; i++) {
      const c = b[i]!;
      if (c === 0) return s;
      if (c >= 0x80 || i - local > 64) break;
      s += String.fromCharCode(c);
    }
    // The section ends with NUL (checked in the constructor), so this always finds one.
    return readCString(b, local);
  }

  /** Offset of `s` when the table (or its base) holds it as a whole string, else undefined. */
  find(s: string): number | undefined {
    const inBase = this.base?.find(s);
    if (inBase !== undefined) return inBase;
    if (!this.index) this.index = this.buildIndex();
    return this.index.get(s);
  }

  /**
   * Every offset (in this table and its base) at which `s` is stored as a whole string. Searched
   * in the raw bytes, so no other string is decoded; BTF from some producers repeats strings.
   */
  offsetsOf(s: string): number[] {
    const out = this.base ? this.base.offsetsOf(s) : [];
    if (s === '') return out;
    const needle = encoder.encode(s + '\0');
    const b = this.bytes;
    const hay = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) {
      if (i === 0 || b[i - 1] === 0) out.push(this.start + i);
    }
    return out;
  }

  private buildIndex(): Map<string, number> {
    const m = new Map<string, number>();
    const b = this.bytes;
    let i = 0;
    while (i < b.length) {
      const nul = b.indexOf(0, i);
      const s = decodeText(b.subarray(i, nul));
      if (!m.has(s)) m.set(s, this.start + i);
      i = nul + 1;
    }
    return m;
  }
}

/**
 * Builds a string section with each distinct string stored once. It may be seeded with an
 * existing section (kept byte for byte, so a parsed BTF marshals back identically) and may sit on
 * a base table whose strings are reused rather than copied (split BTF).
 */
export class StringTableBuilder {
  private buf = new Uint8Array(4096);
  private length = 0;
  private readonly offsets = new Map<string, number>();
  private readonly start: number;
  /**
   * How many leading bytes of `buf` are the table it was seeded with: searched for names that are
   * the tail of another string, and indexed by name only when the first name is added (a table
   * that is only written back never decodes its strings).
   */
  private readonly seedLength: number = 0;
  private seedIndexed = true;

  constructor(
    private readonly base?: StringTable,
    seed?: Uint8Array,
  ) {
    this.start = base ? base.end : 0;
    if (seed && seed.length > 0) {
      this.append(seed);
      this.seedLength = seed.length;
      this.seedIndexed = false;
      if (seed[seed.length - 1] !== 0) this.append(new Uint8Array(1));
    } else if (!base) {
      this.append(new Uint8Array(1)); // the mandatory empty string at offset 0
      this.offsets.set('', 0);
    }
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
  }

  private append(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Each seeded string's first offset, by name. */
  private indexSeed(): void {
    this.seedIndexed = true;
    const seed = this.buf.subarray(0, this.seedLength);
    let i = 0;
    while (i < seed.length) {
      let nul = seed.indexOf(0, i);
      if (nul < 0) nul = seed.length;
      const s = decodeText(seed.subarray(i, nul));
      if (!this.offsets.has(s)) this.offsets.set(s, this.start + i);
      i = nul + 1;
    }
  }

  /** The offset of `s`, adding it when new. The empty string is always offset 0. */
  add(s: string): number {
    if (s === '' && (this.base || this.length > 0)) return 0;
    if (!this.seedIndexed) this.indexSeed();
    const known = this.offsets.get(s);
    if (known !== undefined) return known;
    const inBase = this.base?.find(s);
    if (inBase !== undefined) return inBase;
    // The tail of a longer string in the seeded table: names may share it (the kernel takes any
    // offset into the table), and reusing it is what keeps a parsed BTF byte for byte.
    if (this.seedLength > 0 && s.length > 0) {
      const enc = encoder.encode(s);
      const needle = new Uint8Array(enc.length + 1);
      needle.set(enc);
      const at = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.seedLength).indexOf(needle);
      if (at >= 0) {
        this.offsets.set(s, this.start + at);
        return this.start + at;
      }
    }
    const off = this.start + this.length;
    // Nearly every name is ASCII: its characters are its bytes, written in place.
    this.reserve(s.length + 1);
    let i = 0;
    while (i < s.length && s.charCodeAt(i) < 0x80) {
      this.buf[this.length + i] = s.charCodeAt(i);
      i++;
    }
    if (i === s.length) {
      this.buf[this.length + i] = 0;
      this.length += i + 1;
    } else {
      const enc = encoder.encode(s);
      const rec = new Uint8Array(enc.length + 1);
      rec.set(enc);
      this.append(rec);
    }
    this.offsets.set(s, off);
    return off;
  }

  get size(): number {
    return this.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
