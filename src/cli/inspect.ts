// `ebpf inspect OBJ`: what a BPF object holds, as the loader will see it: sections, programs
// (type from the section name, attach target, linked subprograms, relocations), maps, globals, BTF.
import type { Btf } from '../exports/btf.js';
import { attachTypeName, mapTypeName, progTypeName } from '../exports/constants.js';
import { parseElf, readElfFile, type ElfFile } from '../exports/elf.js';
import { objectSpecFromElf, type MapSpec, type ObjectSpec, type Reference } from '../exports/object.js';
import { parse, positionals, type Command } from './common.js';

const usage = `usage: ebpf inspect OBJ [-j]

  OBJ         a BPF ELF object (either byte order)
  -j, --json  {sections, programs, maps, variables, btf} as JSON`;

const SHT: Record<number, string> = {
  0: 'NULL',
  1: 'PROGBITS',
  2: 'SYMTAB',
  3: 'STRTAB',
  4: 'RELA',
  8: 'NOBITS',
  9: 'REL',
  0x6fff4c03: 'LLVM_ADDRSIG',
};

function typeLabel(btf: Btf | undefined, id: number): string | undefined {
  if (btf === undefined || id === 0) return undefined;
  const t = btf.type(id);
  if (t.name !== '') {
    const tag =
      t.kind === 'STRUCT' ? 'struct ' : t.kind === 'UNION' ? 'union ' : t.kind === 'ENUM' ? 'enum ' : '';
    return tag + t.name;
  }
  return t.kind.toLowerCase();
}

function describeRef(r: Reference): string {
  switch (r.kind) {
    case 'map':
      return `map ${r.map}`;
    case 'data':
      return `data ${r.map}+${r.offset}${r.symbol !== undefined ? ` (${r.symbol})` : ''}`;
    case 'call':
      return `call ${r.target}`;
    case 'func':
      return `callback ${r.target}`;
    case 'kfunc':
      return `kfunc ${r.name}`;
    case 'ksym':
      return `ksym ${r.name}`;
    case 'kconfig':
      return `kconfig ${r.name}`;
  }
}

function mapJson(spec: ObjectSpec, m: MapSpec): Record<string, unknown> {
  const o: Record<string, unknown> = {
    name: m.name,
    source: m.source,
    section: m.sectionName,
    type: mapTypeName(m.type),
    keySize: m.keySize,
    valueSize: m.valueSize,
    maxEntries: m.maxEntries,
    flags: m.flags,
    pinning: m.pinning,
  };
  const k = typeLabel(spec.btf, m.keyTypeId);
  const v = typeLabel(spec.btf, m.valueTypeId);
  if (k !== undefined) o.keyType = k;
  if (v !== undefined) o.valueType = v;
  if (m.numaNode !== 0) o.numaNode = m.numaNode;
  if (m.mapExtra !== 0n) o.mapExtra = m.mapExtra.toString();
  if (m.inner !== undefined) o.inner = mapJson(spec, m.inner);
  if (m.initialSlots !== undefined) o.initialSlots = m.initialSlots.map((s) => s ?? null);
  if (m.structOps !== undefined) {
    o.structOps = { type: m.structOps.typeName, programs: Object.fromEntries(m.structOps.programs) };
  }
  if (m.legacy !== undefined) o.legacy = m.legacy;
  return o;
}

function btfSummary(spec: ObjectSpec): Record<string, unknown> | null {
  const btf = spec.btf;
  if (btf === undefined) return null;
  const kinds: Record<string, number> = {};
  for (const id of btf.ids()) {
    const k = btf.kindOf(id);
    kinds[k] = (kinds[k] ?? 0) + 1;
  }
  const count = (m: Map<string, unknown[]> | undefined): number =>
    [...(m?.values() ?? [])].reduce((n, l) => n + l.length, 0);
  return {
    types: btf.typeCount,
    kinds,
    stringBytes: btf.header.strLen,
    funcInfo: count(spec.btfExt?.funcInfo),
    lineInfo: count(spec.btfExt?.lineInfo),
    coreRelos: count(spec.btfExt?.coreRelos),
  };
}

/** The whole report as plain JSON-able data. */
export function inspectObject(input: Uint8Array | ElfFile, file: string): Record<string, unknown> {
  const elf = input instanceof Uint8Array ? parseElf(input, file) : input;
  const spec = objectSpecFromElf(elf, { file });
  return {
    file,
    name: spec.name,
    endian: spec.littleEndian ? 'little' : 'big',
    license: spec.license,
    kernelVersion: spec.kernelVersion,
    sections: elf.sections
      .filter((s) => s.index !== 0)
      .map((s) => ({
        index: s.index,
        name: s.name,
        type: SHT[s.type] ?? `0x${s.type.toString(16)}`,
        size: s.size,
      })),
    programs: spec.programs.map((p) => ({
      name: p.name,
      section: p.sectionName,
      type: p.section !== undefined ? progTypeName(p.type) : null,
      expectedAttachType:
        p.section?.expectedAttachType !== undefined ? attachTypeName(p.expectedAttachType) : null,
      attachTo: p.attachTo ?? null,
      sleepable: p.sleepable,
      xdpFrags: p.xdpFrags,
      autoload: p.autoload,
      instructions: p.instructions.reduce((n, i) => n + i.size / 8, 0),
      subprograms: p.linked.map((l) => ({ name: l.name, start: l.start, length: l.length })),
      funcInfo: p.funcInfo.length,
      lineInfo: p.lineInfo.length,
      coreRelos: p.coreRelos.length,
      relocations: p.instructions
        .filter((i) => i.reference !== undefined)
        .map((i) => ({ insn: i.index, ...i.reference, text: describeRef(i.reference!) })),
    })),
    maps: spec.maps.map((m) => mapJson(spec, m)),
    variables: [...spec.variables.values()].map((v) => {
      const o: Record<string, unknown> = {
        name: v.name,
        map: v.map,
        section: v.sectionName,
        offset: v.offset,
        size: v.size,
        global: v.global,
      };
      const t = typeLabel(spec.btf, v.typeId);
      if (t !== undefined) o.type = t;
      return o;
    }),
    btf: btfSummary(spec),
  };
}

type Row = Record<string, unknown>;

function text(r: Row): string {
  const out: string[] = [];
  out.push(
    `${String(r.file)}: object '${String(r.name)}', ${String(r.endian)} endian, license ${JSON.stringify(r.license)}`,
  );
  out.push('', 'sections:');
  for (const s of r.sections as Row[]) {
    out.push(
      `  [${String(s.index).padStart(2)}] ${String(s.name).padEnd(28)} ${String(s.type).padEnd(9)} ${String(s.size)}`,
    );
  }
  out.push('', 'programs:');
  for (const p of r.programs as Row[]) {
    const subs = (p.subprograms as Row[]).map((s) => s.name).join(', ');
    out.push(
      `  ${String(p.name)}  section ${String(p.section)}  type ${String(p.type ?? 'unknown')}` +
        (p.expectedAttachType !== null ? `  attach ${String(p.expectedAttachType)}` : '') +
        (p.attachTo !== null ? `  target ${String(p.attachTo)}` : '') +
        (p.sleepable === true ? '  sleepable' : '') +
        (p.xdpFrags === true ? '  frags' : '') +
        (p.autoload === false ? '  (not autoloaded)' : ''),
    );
    out.push(`    ${String(p.instructions)} instructions${subs !== '' ? `, linked: ${subs}` : ''}`);
    for (const rel of p.relocations as Row[])
      out.push(`    insn ${String(rel.insn).padStart(4)}: ${String(rel.text)}`);
  }
  out.push('', 'maps:');
  for (const m of r.maps as Row[]) {
    const kv = `key ${String(m.keySize)}B${m.keyType !== undefined ? ` (${String(m.keyType)})` : ''}  value ${String(m.valueSize)}B${m.valueType !== undefined ? ` (${String(m.valueType)})` : ''}`;
    out.push(
      `  ${String(m.name)}  ${String(m.type)}  ${kv}  max_entries ${String(m.maxEntries)}  flags 0x${Number(m.flags).toString(16)}` +
        (Number(m.pinning) !== 0 ? `  pinning ${String(m.pinning)}` : '') +
        (m.inner !== undefined ? `  inner ${String((m.inner as Row).type)}` : '') +
        (m.initialSlots !== undefined
          ? `  values [${(m.initialSlots as unknown[]).map(String).join(', ')}]`
          : ''),
    );
  }
  out.push('', 'variables:');
  for (const v of r.variables as Row[]) {
    out.push(
      `  ${String(v.name)}  ${String(v.map)}+${String(v.offset)}  ${String(v.size)}B${v.type !== undefined ? `  ${String(v.type)}` : ''}`,
    );
  }
  const b = r.btf as Row | null;
  out.push('', 'btf:');
  if (b === null) out.push('  none');
  else {
    out.push(`  ${String(b.types)} types, ${String(b.stringBytes)} bytes of strings`);
    out.push(
      `  ${Object.entries(b.kinds as Record<string, number>)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
    out.push(
      `  func_info ${String(b.funcInfo)}, line_info ${String(b.lineInfo)}, core_relo ${String(b.coreRelos)}`,
    );
  }
  return out.join('\n') + '\n';
}

async function run(args: string[]): Promise<number> {
  const a = parse(args);
  const [file] = positionals(a.positionals, 1, 1, 'OBJ, the object to inspect') as [string];
  const report = inspectObject(readElfFile(file), file);
  process.stdout.write(a.json ? JSON.stringify(report, null, 2) + '\n' : text(report));
  return 0;
}

export const command: Command = {
  summary: 'programs, maps, globals, relocations and BTF of a BPF object',
  usage,
  run,
};
