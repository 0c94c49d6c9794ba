// C strings in byte buffers (ELF and BTF string tables, license sections, kernel names and logs):
// where one ends, and how its bytes become text.

const utf8 = new TextDecoder('utf-8');

/** Bytes as UTF-8 text, with a fast path for the short ASCII names nearly every string is. */
export function decodeText(b: Uint8Array): string {
  if (b.length < 64) {
    let ascii = true;
    for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) ascii = false;
    if (ascii) return String.fromCharCode(...b);
  }
  return utf8.decode(b);
}

/** The C string at `off`: its bytes up to the first NUL, or to the end of `b` when there is none. */
export function readCString(b: Uint8Array, off = 0): string {
  const end = b.indexOf(0, off);
  return decodeText(b.subarray(off, end < 0 ? b.length : end));
}
