// Test helper: parse JSON text into the order- and duplicate-keeping tree of src/btf/format-value.ts, so
// bpftool's output (which repeats "" for anonymous members) can be compared exactly.
import { JsonObject, JsonToken, type Json } from '../src/btf/format-value.js';

export function parseJsonTree(text: string): Json {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return text.slice(start, i);
  };
  const value = (): Json => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o = new JsonObject();
      ws();
      if (text[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        const k = JSON.parse(str()) as string;
        ws();
        if (text[i++] !== ':') throw new Error(`expected : at ${i}`);
        o.add(k, value());
        ws();
        const d = text[i++];
        if (d === '}') return o;
        if (d !== ',') throw new Error(`expected , or } at ${i}`);
      }
    }
    if (c === '[') {
      i++;
      const a: Json[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value());
        ws();
        const d = text[i++];
        if (d === ']') return a;
        if (d !== ',') throw new Error(`expected , or ] at ${i}`);
      }
    }
    if (c === '"') return new JsonToken(str());
    const m = /^[^,\]}\s]+/.exec(text.slice(i));
    if (!m) throw new Error(`bad JSON at ${i}`);
    i += m[0].length;
    return new JsonToken(m[0]);
  };
  const v = value();
  ws();
  if (i !== text.length) throw new Error(`trailing text at ${i}`);
  return v;
}

/** The member `name` of a parsed object (the first, if repeated). */
export function member(j: Json, name: string): Json {
  if (!(j instanceof JsonObject)) throw new Error(`not an object looking for ${name}`);
  const e = j.entries.find(([k]) => k === name);
  if (!e) throw new Error(`no member ${name}`);
  return e[1];
}

/** Bytes from bpftool's ["0x0a", ...] list. */
export function hexBytes(j: Json): Uint8Array {
  if (!Array.isArray(j)) throw new Error('not a hex list');
  return new Uint8Array(j.map((t) => parseInt(JSON.parse((t as JsonToken).text) as string, 16)));
}
