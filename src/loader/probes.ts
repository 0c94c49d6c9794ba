// Kernel features the loader decides on, probed once per process by asking the kernel to load a
// tiny BTF or program. A local stand-in until src/features provides these probes.
import { BtfBuilder, type TypeSpec } from '../btf/builder.js';
import { FuncLinkage, VarLinkage } from '../btf/types.js';
import { ProgType } from '../constants.js';
import { btfLoad, objName, progLoad } from '../sys/bpf.js';
import type { BtfFeatures } from './btf-sanitize.js';

export interface LoaderFeatures {
  /** BPF_BTF_LOAD at all (Linux 4.18). */
  btf: boolean;
  btfKinds: BtfFeatures;
  /** prog_name / map_name in bpf_attr (Linux 4.15). */
  progName: boolean;
}

function btfAccepted(types: TypeSpec[]): boolean {
  const b = new BtfBuilder();
  for (const t of types) b.add(t);
  try {
    btfLoad(b.build()).fd.close();
    return true;
  } catch {
    return false;
  }
}

const INT: TypeSpec = { kind: 'INT', name: 'int', size: 4, encoding: 1, bitsOffset: 0, bits: 32 };

function probeBtfKinds(): BtfFeatures {
  return {
    func: btfAccepted([
      INT,
      { kind: 'FUNC_PROTO', name: '', returnType: 1, params: [] },
      { kind: 'FUNC', name: 'f', type: 2, linkage: FuncLinkage.STATIC },
    ]),
    globalFunc: btfAccepted([
      INT,
      { kind: 'FUNC_PROTO', name: '', returnType: 1, params: [] },
      { kind: 'FUNC', name: 'f', type: 2, linkage: FuncLinkage.GLOBAL },
    ]),
    datasec: btfAccepted([
      INT,
      { kind: 'VAR', name: 'x', type: 1, linkage: VarLinkage.GLOBAL_ALLOCATED },
      { kind: 'DATASEC', name: '.data', size: 4, vars: [{ type: 2, offset: 0, size: 4 }] },
    ]),
    float: btfAccepted([{ kind: 'FLOAT', name: 'float', size: 4 }]),
    declTag: btfAccepted([
      INT,
      { kind: 'VAR', name: 'x', type: 1, linkage: VarLinkage.GLOBAL_ALLOCATED },
      { kind: 'DECL_TAG', name: 'tag', type: 2, componentIdx: -1 },
    ]),
    typeTag: btfAccepted([
      INT,
      { kind: 'TYPE_TAG', name: 'tag', type: 1 },
      { kind: 'PTR', name: '', type: 2 },
    ]),
    enum64: btfAccepted([
      { kind: 'ENUM64', name: 'e', size: 8, signed: false, values: [{ name: 'v', value: 1n }] },
    ]),
  };
}

function probeProgName(): boolean {
  // r0 = 0; exit
  const insns = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  try {
    progLoad(
      { prog_type: ProgType.SOCKET_FILTER, prog_name: objName('probe') },
      { insns, license: 'GPL' },
    ).fd.close();
    return true;
  } catch {
    return false;
  }
}

let cached: LoaderFeatures | undefined;

/** The running kernel's features, probed on first use. */
export function loaderFeatures(): LoaderFeatures {
  if (cached === undefined) {
    const btf = btfAccepted([INT]);
    cached = {
      btf,
      btfKinds: btf
        ? probeBtfKinds()
        : {
            func: false,
            globalFunc: false,
            datasec: false,
            float: false,
            declTag: false,
            typeTag: false,
            enum64: false,
          },
      progName: probeProgName(),
    };
  }
  return cached;
}
