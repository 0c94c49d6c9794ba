// One small bounds-checked binary reader over a DataView; all parsing goes through it.
import { FormatError, type Location } from '../errors.js';
import { readCString } from './cstring.js';

export type ErrorFactory = (message: string, location: Location) => FormatError;

/**
 * Reads integers and byte ranges at absolute offsets, in one byte order, throwing a typed
 * error naming the file/section and offset when a read would leave the buffer.
 */
export class BinaryReader {
  readonly view: DataView;
  readonly bytes: Uint8Array;
  readonly littleEndian: boolean;
  readonly location: Location;
  private readonly makeError: ErrorFactory;

  constructor(
    bytes: Uint8Array,
    littleEndian: boolean,
    location: Location = {},
    makeError: ErrorFactory = (m, l) => new FormatError(m, l),
  ) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.littleEndian = littleEndian;
    this.location = location;
    this.makeError = makeError;
  }

  get length(): number {
    return this.bytes.byteLength;
  }

  error(message: string, offset?: number): FormatError {
    const loc: Location = { ...this.location };
    if (offset !== undefined) loc.offset = (this.location.offset ?? 0) + offset;
    return this.makeError(message, loc);
  }

  check(offset: number, size: number, what = 'read'): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || size < 0 || offset + size > this.bytes.byteLength) {
      throw this.error(`${what} of ${size} bytes out of bounds (length ${this.bytes.byteLength})`, offset);
    }
  }

  u8(off: number): number {
    this.check(off, 1);
    return this.view.getUint8(off);
  }
  i8(off: number): number {
    this.check(off, 1);
    return this.view.getInt8(off);
  }
  u16(off: number): number {
    this.check(off, 2);
    return this.view.getUint16(off, this.littleEndian);
  }
  i16(off: number): number {
    this.check(off, 2);
    return this.view.getInt16(off, this.littleEndian);
  }
  u32(off: number): number {
    this.check(off, 4);
    return this.view.getUint32(off, this.littleEndian);
  }
  i32(off: number): number {
    this.check(off, 4);
    return this.view.getInt32(off, this.littleEndian);
  }
  u64(off: number): bigint {
    this.check(off, 8);
    return this.view.getBigUint64(off, this.littleEndian);
  }
  i64(off: number): bigint {
    this.check(off, 8);
    return this.view.getBigInt64(off, this.littleEndian);
  }
  /** A 64-bit value that must fit a JS number (offsets, sizes). */
  u64n(off: number, what = 'value'): number {
    const v = this.u64(off);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.error(`${what} ${v} too large`, off);
    return Number(v);
  }
  /** A view (no copy) of `size` bytes at `off`. */
  slice(off: number, size: number, what = 'range'): Uint8Array {
    this.check(off, size, what);
    return this.bytes.subarray(off, off + size);
  }
  /** A sub-reader over `size` bytes at `off`, sharing byte order and error kind. */
  sub(off: number, size: number, location: Location = this.location): BinaryReader {
    return new BinaryReader(this.slice(off, size), this.littleEndian, location, this.makeError);
  }
  /** NUL-terminated string starting at `off`; one that runs to the end of the buffer is an error. */
  cstring(off: number): string {
    this.check(off, 0);
    if (this.bytes.indexOf(0, off) < 0) throw this.error('unterminated string', off);
    return readCString(this.bytes, off);
  }
}

/** A growable little/big-endian writer used by marshalling code. */
export class BinaryWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;
  constructor(
    readonly littleEndian: boolean,
    initial = 256,
  ) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): this {
    this.ensure(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
    return this;
  }
  u16(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.length, v, this.littleEndian);
    this.length += 2;
    return this;
  }
  u32(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.length, v >>> 0, this.littleEndian);
    this.length += 4;
    return this;
  }
  i32(v: number): this {
    this.ensure(4);
    this.view.setInt32(this.length, v, this.littleEndian);
    this.length += 4;
    return this;
  }
  u64(v: bigint): this {
    this.ensure(8);
    this.view.setBigUint64(this.length, BigInt.asUintN(64, v), this.littleEndian);
    this.length += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  /** Overwrite a u32 at an earlier position. */
  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, this.littleEndian);
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
