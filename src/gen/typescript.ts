// `ebpf gen types`: a TypeScript module for one object, printed from its shapes: an interface per
// named struct/union, enums as name unions, per-map key/value types, per-section globals, record
// types asked for by name, and typed load()/loadSpec() (as bpf2go and libbpf skeletons give).
import type { ObjectSpec } from '../object/spec.js';
import { objectShapes, shapesFingerprint, type ObjectShapes } from './object-shapes.js';
import type { Shape, ShapeField } from './shape.js';

export interface GenerateOptions {
  /** Prefix of the object-level names (`FlowObject`, `FlowMaps`); default the object name in PascalCase. */
  name?: string;
  /** The module the ebpf types come from; default 'ebpf'. */
  importFrom?: string;
  /** What the header names as the source (a file name); default the spec's file. */
  source?: string;
  /** C type names to declare as records (`event`, `struct event`): `obj.codec(name)` is typed. */
  records?: readonly string[];
  /** The object's bytes, embedded so that load() and loadSpec() need no argument. */
  embed?: Uint8Array;
  /** The command that regenerates the module, quoted when the object no longer matches. */
  regenerate?: string;
}

/** Names the module imports or uses from the global scope: a C type must not shadow them. */
const RESERVED = new Set([
  'BpfMap',
  'Globals',
  'LoadedObject',
  'LoadOptions',
  'ObjectSpec',
  'ObjectTypes',
  'Program',
  'GENERATED_FROM',
  'OBJECT_BASE64',
  'Omit',
  'Record',
  'Array',
  'Int8Array',
  'Uint8Array',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
  'Float32Array',
  'Float64Array',
  // Global types a reader would not expect to see shadowed.
  'Number',
  'String',
  'Boolean',
  'Object',
  'Symbol',
  'BigInt',
  'Function',
  'Date',
  'Error',
  'Map',
  'Set',
  'Promise',
  'DataView',
  'ArrayBuffer',
  'Partial',
  'Required',
  'Readonly',
  'Pick',
  'Exclude',
  'Extract',
]);

/** `flow_key` → `FlowKey`; a name that would not be an identifier gets a leading `_`. */
export function pascalCase(name: string): string {
  const s = name
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p !== '')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
  if (s === '') return 'Anon';
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const prop = (name: string): string => (IDENT.test(name) ? name : JSON.stringify(name));

class Names {
  private readonly used = new Set<string>(RESERVED);
  /** `base`, else `base` + `kind` (`NumberUnion`), else with a number. */
  take(base: string, kind = ''): string {
    let n = base;
    if (this.used.has(n) && kind !== '') n = base + kind;
    for (let i = 2; this.used.has(n); i++) n = `${base}${kind}_${i}`;
    this.used.add(n);
    return n;
  }
}

const STANDARD_SECTIONS: Record<string, string> = { '.rodata': 'rodata', '.data': 'data', '.bss': 'bss' };

/** The TypeScript module for `spec`, as `ebpf gen types` writes it. */
export function generateTypes(spec: ObjectSpec, opts: GenerateOptions = {}): string {
  const shapes = objectShapes(spec, { records: opts.records ?? [] });
  return new Printer(shapes, opts, opts.source ?? spec.file).print();
}

type Named = Extract<Shape, { kind: 'enum' | 'object' }>;

class Printer {
  private readonly names = new Names();
  /** Declared types by BTF id: their TS name. */
  private readonly declared = new Map<number, string>();
  private readonly decls: string[] = [];
  private readonly prefix: string;
  private readonly sectionNames = new Map<string, string>();
  private readonly objectNames: Record<
    'maps' | 'mapTypes' | 'programs' | 'programName' | 'sections' | 'records' | 'types' | 'object' | 'spec',
    string
  >;

  constructor(
    private readonly shapes: ObjectShapes,
    private readonly opts: GenerateOptions,
    private readonly source: string | undefined,
  ) {
    this.prefix = opts.name ?? pascalCase(shapes.name);
    // Object-level names first, so a C type named like one of them yields.
    const p = this.prefix;
    this.objectNames = {
      maps: this.names.take(`${p}Maps`),
      mapTypes: this.names.take(`${p}MapTypes`),
      programs: this.names.take(`${p}Programs`),
      programName: this.names.take(`${p}ProgramName`),
      sections: this.names.take(`${p}Sections`),
      records: this.names.take(`${p}Records`),
      types: this.names.take(`${p}Types`),
      object: this.names.take(`${p}Object`),
      spec: this.names.take(`${p}Spec`),
    };
    for (const s of shapes.sections) this.sectionNames.set(s.section, this.names.take(pascalCase(s.section)));
  }

  /** The type text of a shape at indentation `indent` (for inline object literals). */
  private text(s: Shape, indent: string): string {
    switch (s.kind) {
      case 'number':
      case 'bigint':
      case 'boolean':
      case 'string':
        return s.kind;
      case 'typed':
        return s.array;
      case 'array':
      case 'perCpu': {
        const el = this.text(s.kind === 'array' ? s.element : s.value, indent);
        return /[|&{]/.test(el) ? `Array<${el}>` : `${el}[]`;
      }
      case 'unknown':
        return `unknown /* ${s.reason.replace(/\*\//g, '* /')} */`;
      case 'enum':
      case 'object':
        if (s.name !== '') return this.declare(s);
        return s.kind === 'enum' ? this.enumText(s) : this.objectText(s.fields, indent);
    }
  }

  private enumText(s: Extract<Shape, { kind: 'enum' }>): string {
    return [...s.names.map((n) => JSON.stringify(n)), s.bigint ? 'bigint' : 'number'].join(' | ');
  }

  private objectText(fields: ShapeField[], indent: string): string {
    if (fields.length === 0) return 'Record<never, never>';
    const inner = indent + '  ';
    const lines = fields.map((f) => `${inner}${prop(f.name)}: ${this.text(f.shape, inner)};`);
    return `{\n${lines.join('\n')}\n${indent}}`;
  }

  /** Declares a named struct, union, DATASEC or enum once, returning its TS name. */
  private declare(s: Named): string {
    const have = this.declared.get(s.typeId);
    if (have !== undefined) return have;
    const kind =
      s.kind === 'enum' ? 'Enum' : s.what === 'union' ? 'Union' : s.what === 'struct' ? 'Struct' : '';
    const base =
      s.kind === 'object' && s.what === 'datasec' ? `${pascalCase(s.name)}Value` : pascalCase(s.name);
    const name = this.names.take(base, kind);
    this.declared.set(s.typeId, name);
    if (s.kind === 'enum') {
      this.decls.push(
        `/** enum ${s.name} (BTF [${s.typeId}]): the enumerator's name, or the number when none has the value. */\n` +
          `export type ${name} = ${this.enumText(s)};`,
      );
    } else {
      const what =
        s.what === 'union'
          ? `union ${s.name} (BTF [${s.typeId}]): every member is decoded from the same bytes; writing uses the widest one given.`
          : s.what === 'datasec'
            ? `section ${s.name} (BTF [${s.typeId}]): every variable, static ones included, as its map's value.`
            : `struct ${s.name} (BTF [${s.typeId}])`;
      // Reserve the slot before printing members, which may declare more types.
      const at = this.decls.push('') - 1;
      const body = s.fields.length === 0 ? '{}' : this.objectText(s.fields, '');
      this.decls[at] = `/** ${what} */\nexport interface ${name} ${body}`;
    }
    return name;
  }

  /** `{ a: X; b: Y }` over several lines, or `Record<never, never>` when empty. */
  private literal(lines: string[]): string {
    return lines.length === 0 ? 'Record<never, never>' : `{\n${lines.join('\n')}\n}`;
  }

  print(): string {
    const { maps, mapTypes, programs, programName, sections, records, types, object, spec } =
      this.objectNames;
    const sh = this.shapes;
    const from = JSON.stringify(this.opts.importFrom ?? 'ebpf');
    const mapLines = sh.maps.map(
      (m) => `  ${prop(m.name)}: { key: ${this.text(m.key, '  ')}; value: ${this.text(m.value, '  ')} };`,
    );
    const recordLines = sh.records.map((r) => `  ${prop(r.name)}: ${this.text(r.shape, '  ')};`);
    // Section types are aliases, not interfaces: an interface has no index signature, so it would
    // not fit ObjectTypes['sections'].
    const sectionDecls: string[] = [];
    for (const s of sh.sections) {
      const fields = s.variables.map((v) => ({ name: v.name, shape: v.shape }));
      const body = fields.length === 0 ? 'Record<never, never>' : this.objectText(fields, '');
      sectionDecls.push(
        `/** Variables of ${s.section} (map '${s.map}'): the global ones, as its Globals view gives them. */\n` +
          `export type ${this.sectionNames.get(s.section)!} = ${body};`,
      );
    }
    const secLines = sh.sections.map((s) => `  ${prop(s.section)}: ${this.sectionNames.get(s.section)!};`);
    for (const std of Object.keys(STANDARD_SECTIONS)) {
      if (!sh.sections.some((s) => s.section === std)) secLines.push(`  ${prop(std)}: never;`);
    }
    const progNames = sh.programs.map((p) => JSON.stringify(p.name));
    const embedded = this.opts.embed !== undefined;
    const shown = this.source !== undefined ? ` (${this.source})` : '';
    const out: string[] = [];
    out.push(
      `// Types of the BPF object '${sh.name}'${shown}, generated by \`ebpf gen types\` from its BTF: what`,
      '// the ebpf package decodes its maps, global variables and records to, and a typed load(). DO NOT EDIT.',
      `// Use: \`using obj = load(${embedded ? '' : 'file'})\`, then \`obj.map('name')\`, \`obj.bss\`, \`obj.codec('type')\`; or`,
      `// \`const spec = loadSpec(${embedded ? '' : 'file'})\`, set \`spec.rodata\`, then \`loadObject(spec)\`. No cast needed.`,
      `import { loadObject, loadObjectSpec, withObjectTypes } from ${from};`,
      `import type { BpfMap, LoadedObject, LoadOptions, ObjectSpec, Program } from ${from};`,
      '',
    );
    // Printing the maps and records declares the C types they use; those come first.
    const mapBody = this.literal(mapLines);
    const recordBody = this.literal(recordLines);
    for (const d of this.decls) out.push(d, '');
    for (const d of sectionDecls) out.push(d, '');
    out.push(
      `/** Key and value of each map, as \`${object}.map(name)\` decodes them. */`,
      `export type ${mapTypes} = ${mapBody};`,
      '',
      `/** Each map's handle. */`,
      `export type ${maps} = { [N in keyof ${mapTypes}]: BpfMap<${mapTypes}[N]['key'], ${mapTypes}[N]['value']> };`,
      '',
      `/** The object's programs (those with \`SEC("?...")\` are loaded only when asked). */`,
      `export type ${programName} = ${progNames.length === 0 ? 'never' : progNames.join(' | ')};`,
      `export type ${programs} = { [N in ${programName}]: Program };`,
      '',
      `/** Global variables by section (\`.rodata\`, \`.data\` and \`.bss\` are \`never\` when the object has none). */`,
      `export type ${sections} = ${this.literal(secLines)};`,
      '',
      `/** Types asked for by name (\`--type\`), as \`${object}.codec(name)\` decodes them (ring and perf buffer records). */`,
      `export type ${records} = ${recordBody};`,
      '',
      `/** What these types say about the object: ObjectSpec<${types}> and LoadedObject<${types}> are typed by it. */`,
      `export type ${types} = {`,
      `  maps: ${mapTypes};`,
      `  programs: ${programName};`,
      `  sections: ${sections};`,
      `  records: ${records};`,
      '};',
      '',
      `/** The loaded object, typed. */`,
      `export type ${object} = LoadedObject<${types}>;`,
      '',
      `/** The object before load, typed: its global variables are set through BTF. */`,
      `export type ${spec} = ObjectSpec<${types}>;`,
      '',
    );
    const check = {
      fingerprint: shapesFingerprint(sh),
      records: sh.records.map((r) => r.name),
      ...(this.opts.regenerate !== undefined && { regenerate: this.opts.regenerate }),
    };
    out.push(
      '/** What the object given to loadSpec() must match: the shapes these types were printed from. */',
      `const GENERATED_FROM = ${JSON.stringify(check)};`,
      '',
    );
    let input = 'input: string | Uint8Array';
    if (this.opts.embed !== undefined) {
      out.push(
        `/** The object's ${this.opts.embed.length} bytes${shown}, embedded. */`,
        `const OBJECT_BASE64 =\n  ${JSON.stringify(Buffer.from(this.opts.embed).toString('base64'))};`,
        '',
      );
      input = 'input: string | Uint8Array = Uint8Array.from(atob(OBJECT_BASE64), (c) => c.charCodeAt(0))';
    }
    const what = embedded
      ? 'The object (the embedded one, or a file or its bytes)'
      : 'The object (a file or its bytes)';
    out.push(
      `/**`,
      ` * ${what}, read and checked to be the one these types`,
      ` * describe (ObjectTypesMismatchError otherwise), typed: set \`.rodata\` here, then loadObject(spec).`,
      ` */`,
      `export function loadSpec(${input}): ${spec} {`,
      `  return withObjectTypes<${types}>(loadObjectSpec(input, { name: ${JSON.stringify(sh.name)} }), GENERATED_FROM);`,
      '}',
      '',
      `/** Loads the object (see loadSpec) into the kernel, typed. Close it (or \`using\`) to release it. */`,
      `export function load(${input.replace('input: string | Uint8Array', `input: ${spec} | string | Uint8Array`)}, opts: LoadOptions = {}): ${object} {`,
      `  return loadObject(typeof input === 'string' || input instanceof Uint8Array ? loadSpec(input) : input, opts);`,
      '}',
      '',
    );
    return out.join('\n');
  }
}
