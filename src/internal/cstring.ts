// C strings in byte buffers (ELF and BTF string tables, license sections, kernel names and logs):
// where one ends, and how its bytes become text.

const utf8 = new TextDecoder('utf-8');

/** Bytes as UTF-8 text, with a fast path for the short ASCII names nearly every string is. */
export function decodeText(b: Uint8Array): string {
  const n = b.length;
  if (n < 64) {
    // Character by character: cheaper than a TextDecoder call or spreading the bytes.
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = b[i]!;
      if (c >= 0x80) return utf8.decode(b);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8.decode(b);
}

/** The C string at `off`: its bytes up to the first NUL, or to the end of `b` when there is none. */
export function readCString(b: Uint8Array, off = 0): string {
  const end = b.indexOf(0, off);
  return decodeText(b.subarray(off, end < 0 ? b.length : end));
}
