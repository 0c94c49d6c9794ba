// BTF probes: each loads a tiny BTF blob using one kind or flag the kernel must know.
import { BtfBuilder } from '../btf/builder.js';
import { BTF_INT_SIGNED, FuncLinkage, VarLinkage } from '../btf/types.js';
import { btfLoad } from '../sys/bpf.js';
import { attempt } from './attempt.js';
import { feature } from './feature.js';

function load(build: (b: BtfBuilder, int: number) => void): boolean {
  const b = new BtfBuilder();
  const int = b.add({ kind: 'INT', name: 'int', size: 4, encoding: BTF_INT_SIGNED, bitsOffset: 0, bits: 32 });
  build(b, int);
  const bytes = b.build();
  return attempt(() => btfLoad(bytes).fd);
}

function funcProto(b: BtfBuilder, int: number): number {
  return b.add({ kind: 'FUNC_PROTO', name: '', returnType: int, params: [{ name: 'a', type: int }] });
}

export const BTF = feature('BTF', '4.18', () => load(() => {}));

export const BTF_KIND_FUNC = feature('BTF_KIND_FUNC and BTF_KIND_FUNC_PROTO', '5.0', () =>
  load((b, int) => {
    b.add({ kind: 'FUNC', name: 'probe', type: funcProto(b, int), linkage: FuncLinkage.STATIC });
  }),
);

export const BTF_FUNC_GLOBAL = feature('BTF_KIND_FUNC global linkage', '5.6', () =>
  load((b, int) => {
    b.add({ kind: 'FUNC', name: 'probe', type: funcProto(b, int), linkage: FuncLinkage.GLOBAL });
  }),
);

export const BTF_KIND_DATASEC = feature('BTF_KIND_VAR and BTF_KIND_DATASEC', '5.2', () =>
  load((b, int) => {
    const v = b.add({ kind: 'VAR', name: 'a', type: int, linkage: VarLinkage.GLOBAL_ALLOCATED });
    b.add({ kind: 'DATASEC', name: '.data', size: 4, vars: [{ type: v, offset: 0, size: 4 }] });
  }),
);

export const BTF_KIND_FLOAT = feature('BTF_KIND_FLOAT', '5.13', () =>
  load((b) => {
    b.add({ kind: 'FLOAT', name: 'float', size: 4 });
  }),
);

export const BTF_KIND_DECL_TAG = feature('BTF_KIND_DECL_TAG', '5.16', () =>
  load((b, int) => {
    const v = b.add({ kind: 'VAR', name: 'a', type: int, linkage: VarLinkage.GLOBAL_ALLOCATED });
    b.add({ kind: 'DECL_TAG', name: 'tag', type: v, componentIdx: -1 });
    b.add({ kind: 'DATASEC', name: '.data', size: 4, vars: [{ type: v, offset: 0, size: 4 }] });
  }),
);

export const BTF_KIND_TYPE_TAG = feature('BTF_KIND_TYPE_TAG', '5.17', () =>
  load((b, int) => {
    const tag = b.add({ kind: 'TYPE_TAG', name: 'user', type: int });
    b.add({ kind: 'PTR', name: '', type: tag });
  }),
);

export const BTF_KIND_ENUM64 = feature('BTF_KIND_ENUM64', '6.0', () =>
  load((b) => {
    b.add({ kind: 'ENUM64', name: 'e', size: 8, signed: false, values: [{ name: 'BIG', value: 1n << 40n }] });
  }),
);
