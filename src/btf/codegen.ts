// Specialised readers and writers for the codecs of codec.ts: once per BTF type, the tree of
// closures the compiler built is turned into the source of two functions with every offset,
// width and byte order fixed, structs read as object literals (one shape per type), and no call
// per field. A walk of closures costs a call and a keyed store per field; these cost what the
// DataView accesses cost. Nodes the generator has no plan for (enums, bitfields, strings, unions,
// anonymous members...) are called as they are from the generated code.
//
// The writer here is a fast path only: it takes the values it recognises at once and throws on
// anything else, possibly after writing part of the bytes; the codec then runs the walk, which
// writes the value or throws the error that says where it is wrong. So the generated code never
// has to build an error message, and it must never accept a value the walk would refuse or write
// other bytes than the walk would.
//
// Generating code needs `new Function`: where the host forbids it (node
// --disallow-code-generation-from-strings, a CSP without 'unsafe-eval'), compileNode returns
// undefined and the codecs keep the walk. No text from the BTF reaches the source but through
// JSON.stringify (field names as string literals); everything else in it is numbers.

/** The part of a codec node the generator reads. */
export interface GenNode {
  readonly size: number;
  read(v: DataView, off: number): unknown;
  write(v: DataView, off: number, x: unknown): void;
  plan?: Plan;
}

type NumericArrayCtor = new (n: number) => ArrayLike<unknown>;

/** How a node reads and writes, for the generator; a node without one is called as it is. */
export type Plan =
  /** A whole-width integer at the node's offset; 8 bytes are a bigint. */
  | { t: 'int'; size: 1 | 2 | 4 | 8; signed: boolean; le: boolean }
  | { t: 'float'; size: 4 | 8; le: boolean }
  /** A struct (or DATASEC) with named fields only: no union, no anonymous member. */
  | {
      t: 'struct';
      fields: readonly { name: string; offset: number; node: GenNode }[];
      names: ReadonlySet<string>;
    }
  /** n elements decoded to a plain array. */
  | { t: 'array'; n: number; elem: GenNode }
  /** n numeric elements decoded to a typed array. */
  | { t: 'tarray'; ctor: NumericArrayCtor; n: number; elem: GenNode };

/** The checks of codec.ts the generated writers call for what they do not test inline. */
export interface Checks {
  checkNumber(x: unknown, bits: number, signed: boolean): number;
  checkBigint(x: unknown, bits: number, signed: boolean): bigint;
  float(x: unknown): number;
  isPlainObject(x: unknown): boolean;
}

export interface CompiledNode {
  read(v: DataView, off: number): unknown;
  /** Throws (anything) for a value it does not take at once; see the file comment. */
  write(v: DataView, off: number, x: unknown): void;
  /** Whether write() sets every byte of the value, so the bytes need no clearing first. */
  full: boolean;
}

/** Thrown by the generated writers to hand over to the walk: no message, no stack. */
const BAIL = Object.freeze({ bail: true });

let generationAllowed: boolean | undefined;

/** Whether this host lets code be generated from strings (probed once). */
function canGenerate(): boolean {
  if (generationAllowed === undefined) {
    try {
      generationAllowed = (new Function('return 1') as () => number)() === 1;
    } catch {
      generationAllowed = false;
    }
  }
  return generationAllowed;
}

/** Up to this many fields a struct checks an object's keys by comparisons, beyond it by a Set. */
const INLINE_NAME_CHECKS = 8;

const INT_GET: Readonly<Record<string, string>> = {
  u1: 'getUint8',
  s1: 'getInt8',
  u2: 'getUint16',
  s2: 'getInt16',
  u4: 'getUint32',
  s4: 'getInt32',
  u8: 'getBigUint64',
  s8: 'getBigInt64',
};

/** The test that a number is an integer in range for each width, inline (the rest: checkNumber). */
const INT_FITS: Readonly<Record<string, (y: string) => string>> = {
  u1: (y) => `(${y} & 255) === ${y}`,
  s1: (y) => `(${y} << 24 >> 24) === ${y}`,
  u2: (y) => `(${y} & 65535) === ${y}`,
  s2: (y) => `(${y} << 16 >> 16) === ${y}`,
  u4: (y) => `${y} >>> 0 === ${y}`,
  s4: (y) => `(${y} | 0) === ${y}`,
};

class Generator {
  /** Nodes called as they are, and other objects the source refers to, by index. */
  readonly refs: unknown[] = [];
  /** Helper functions (array readers and writers), emitted before the entry points. */
  readonly helpers: string[] = [];
  private vars = 0;

  private ref(x: unknown): string {
    this.refs.push(x);
    return `R[${this.refs.length - 1}]`;
  }

  private fresh(prefix: string): string {
    return `${prefix}${this.vars++}`;
  }

  /** An expression reading `node` at offset expression `o` of DataView `v`. */
  read(node: GenNode, o: string): string {
    const p = node.plan;
    if (p === undefined) return `${this.ref(node)}.read(v, ${o})`;
    switch (p.t) {
      case 'int': {
        const get = INT_GET[`${p.signed ? 's' : 'u'}${p.size}`]!;
        return p.size === 1 ? `v.${get}(${o})` : `v.${get}(${o}, ${p.le})`;
      }
      case 'float':
        return `v.getFloat${p.size * 8}(${o}, ${p.le})`;
      case 'struct':
        return `{ ${p.fields.map((f) => `${JSON.stringify(f.name)}: ${this.read(f.node, plus(o, f.offset))}`).join(', ')} }`;
      case 'array':
      case 'tarray': {
        const fn = this.fresh('r');
        const make = p.t === 'tarray' ? `new ${this.ref(p.ctor)}(${p.n})` : `new Array(${p.n})`;
        const esize = p.elem.size;
        this.helpers.push(
          `function ${fn}(v, o) { const a = ${make}; for (let i = 0; i < ${p.n}; i++) a[i] = ${this.read(p.elem, `o + i * ${esize}`)}; return a; }`,
        );
        return `${fn}(v, ${o})`;
      }
    }
  }

  /** Statements writing the value `y` (a variable) as `node` at offset expression `o`. */
  write(node: GenNode, o: string, y: string): string {
    const p = node.plan;
    if (p === undefined) {
      // The walk's nodes take a missing value in their own ways; leave that to the walk.
      return `if (${y} === undefined) throw B; ${this.ref(node)}.write(v, ${o}, ${y});`;
    }
    switch (p.t) {
      case 'int': {
        const bits = p.size * 8;
        if (p.size === 8) {
          const [lo, hi] = p.signed
            ? ['-9223372036854775808n', '9223372036854775807n']
            : ['0n', '18446744073709551615n'];
          const value = `typeof ${y} === 'bigint' && ${y} >= ${lo} && ${y} <= ${hi} ? ${y} : C.checkBigint(${y}, 64, ${p.signed})`;
          return `v.${p.signed ? 'setBigInt64' : 'setBigUint64'}(${o}, ${value}, ${p.le});`;
        }
        const key = `${p.signed ? 's' : 'u'}${p.size}`;
        const set = INT_GET[key]!.replace('get', 'set');
        const value = `typeof ${y} === 'number' && ${INT_FITS[key]!(y)} ? ${y} : C.checkNumber(${y}, ${bits}, ${p.signed})`;
        return p.size === 1 ? `v.${set}(${o}, ${value});` : `v.${set}(${o}, ${value}, ${p.le});`;
      }
      case 'float':
        return `v.setFloat${p.size * 8}(${o}, typeof ${y} === 'number' ? ${y} : C.float(${y}), ${p.le});`;
      case 'struct': {
        const k = this.fresh('k');
        const known =
          p.names.size <= INLINE_NAME_CHECKS
            ? [...p.names].map((n) => `${k} !== ${JSON.stringify(n)}`).join(' && ') || 'true'
            : `!${this.ref(p.names)}.has(${k})`;
        const parts = [
          `if (!C.isPlainObject(${y})) throw B;`,
          `for (const ${k} in ${y}) if (${known}) throw B;`,
        ];
        for (const f of p.fields) {
          const fy = this.fresh('y');
          parts.push(
            `const ${fy} = ${y}[${JSON.stringify(f.name)}];`,
            this.write(f.node, plus(o, f.offset), fy),
          );
        }
        return `{ ${parts.join(' ')} }`;
      }
      case 'array':
      case 'tarray': {
        const fn = this.fresh('w');
        const isArray = p.t === 'tarray' ? '(ArrayBuffer.isView(y) || Array.isArray(y))' : 'Array.isArray(y)';
        this.helpers.push(
          `function ${fn}(v, o, y) { if (!${isArray} || y.length !== ${p.n}) throw B; for (let i = 0; i < ${p.n}; i++) { const e = y[i]; ${this.write(p.elem, `o + i * ${p.elem.size}`, 'e')} } }`,
        );
        return `${fn}(v, ${o}, ${y});`;
      }
    }
  }
}

function plus(o: string, n: number): string {
  return n === 0 ? o : `${o} + ${n}`;
}

/** Whether writing `node` sets each of its bytes (no padding, no node called as it is). */
function coversAll(node: GenNode): boolean {
  const p = node.plan;
  if (p === undefined) return false;
  switch (p.t) {
    case 'int':
    case 'float':
      return true;
    case 'array':
    case 'tarray':
      return coversAll(p.elem);
    case 'struct': {
      const spans = p.fields
        .map((f) => [f.offset, f.offset + f.node.size] as const)
        .sort((a, b) => a[0] - b[0]);
      let end = 0;
      for (const [from, to] of spans) {
        if (from > end) return false;
        end = Math.max(end, to);
      }
      return end >= node.size && p.fields.every((f) => coversAll(f.node));
    }
  }
}

/**
 * Specialised read and write for `node`, or undefined when there is nothing to specialise (no
 * plan at its root) or the host refuses generated code.
 */
export function compileNode(node: GenNode, checks: Checks): CompiledNode | undefined {
  if (node.plan === undefined || !canGenerate()) return undefined;
  const g = new Generator();
  const readExpr = g.read(node, 'o');
  const writeBody = g.write(node, 'o', 'x');
  const source = [
    "'use strict';",
    ...g.helpers,
    `return { read(v, o) { return ${readExpr}; }, write(v, o, x) { ${writeBody} } };`,
  ].join('\n');
  try {
    const make = new Function('R', 'C', 'B', source) as (
      r: unknown[],
      c: Checks,
      b: unknown,
    ) => Omit<CompiledNode, 'full'>;
    return { ...make(g.refs, checks, BAIL), full: coversAll(node) };
  } catch {
    return undefined;
  }
}
