// `.ksyms` externs resolved as libbpf resolves them: kernel functions (kfuncs) and typed variables
// by name in vmlinux BTF, then in module BTF; typeless `void` symbols by address in /proc/kallsyms.
// A weak extern the kernel lacks resolves to nothing (its ld_imm64 reads 0); a strong one fails.
import { release } from 'node:os';
import type { Btf } from '../btf/btf.js';
import { kernelModuleBtfs } from '../btf/kernel.js';
import { typesAreCompat } from '../core/compat.js';
import { NotSupportedError, type Location } from '../errors.js';
import { kallsyms } from '../features/kallsyms.js';
import { notSupportedMessage } from '../features/feature.js';
import { KFUNC_CALLS } from '../features/programs.js';
import type { ExternSpec } from '../object/index.js';
import { LoadError } from './errors.js';

export type ResolvedKsym =
  /** A kfunc or typed variable: its BTF id in vmlinux (module undefined) or in a module's BTF. */
  | { kind: 'btf'; btfId: number; module: string | undefined }
  /** A typeless symbol's address from kallsyms. */
  | { kind: 'address'; address: bigint }
  /** A weak extern the kernel does not have. */
  | { kind: 'missing' };

/** libbpf's find_ksym_btf_id: vmlinux first, then each module's BTF. */
function findKernelType(
  vmlinux: Btf,
  name: string,
  kind: 'FUNC' | 'VAR',
): { btf: Btf; id: number; module: string | undefined } | undefined {
  const t = vmlinux.findByName(name, kind)[0];
  if (t !== undefined) return { btf: vmlinux, id: t.id, module: undefined };
  for (const { name: m, btf } of kernelModuleBtfs()) {
    // A module's split BTF also finds vmlinux's types; only its own count here.
    const own = btf.findByName(name, kind).find((x) => x.id >= btf.firstTypeId);
    if (own !== undefined) return { btf, id: own.id, module: m };
  }
  return undefined;
}

/**
 * Resolves every `.ksyms` extern; throws LoadError for a strong one the kernel lacks or a type
 * mismatch, and NotSupportedError for a kfunc the program would call on a kernel without kfunc
 * calls (before 5.13: its verifier would say only "BPF_CALL uses reserved fields"). A weak kfunc
 * the kernel lacks stays allowed there: it must sit in code the verifier proves dead.
 */
export function resolveKsyms(
  externs: readonly ExternSpec[],
  objBtf: Btf,
  kernel: () => Btf,
  loc: Location,
  kfuncCalls: () => boolean = () => true,
): Map<string, ResolvedKsym> {
  const out = new Map<string, ResolvedKsym>();
  for (const ext of externs) {
    const k = ext.ksym;
    if (k === undefined) continue;
    const at: Location = { ...loc, section: '.ksyms', typeId: ext.btfId };
    if (!k.func && k.typeId === 0) {
      const found = kallsyms().get(ext.name) ?? [];
      const addresses = [...new Set(found.map((s) => s.address))];
      if (addresses.length > 1) {
        throw new LoadError(
          'ksym',
          `extern (ksym) '${ext.name}': resolution is ambiguous: ${addresses.map((a) => `0x${a.toString(16)}`).join(' or ')}`,
          at,
        );
      }
      if (addresses[0] !== undefined) out.set(ext.name, { kind: 'address', address: addresses[0] });
      else if (ext.weak) out.set(ext.name, { kind: 'missing' });
      else throw new LoadError('ksym', `extern '${ext.name}' (strong): not resolved in /proc/kallsyms`, at);
      continue;
    }
    const what = k.func ? 'func ksym' : 'var ksym';
    const found = findKernelType(kernel(), ext.name, k.func ? 'FUNC' : 'VAR');
    if (k.func && (found !== undefined || !ext.weak) && !kfuncCalls()) {
      throw new NotSupportedError(
        `extern (func ksym) '${ext.name}': ${notSupportedMessage(KFUNC_CALLS)} (this is ${release()})`,
        at,
      );
    }
    if (found === undefined) {
      if (ext.weak) {
        out.set(ext.name, { kind: 'missing' });
        continue;
      }
      throw new LoadError(
        'ksym',
        `extern (${what}) '${ext.name}': not found in kernel${k.func ? ' or module' : ''} BTF${k.func ? 's' : ''}`,
        at,
      );
    }
    const kt = found.btf.type(found.id);
    const targType = kt.kind === 'FUNC' || kt.kind === 'VAR' ? kt.type : 0;
    const targResolved = found.btf.resolve(targType).id;
    if (!typesAreCompat(objBtf, k.typeId, found.btf, targResolved)) {
      throw new LoadError(
        'ksym',
        k.func
          ? `extern (func ksym) '${ext.name}': func_proto [${k.typeId}] incompatible with kernel [${targType}]`
          : `extern (var ksym) '${ext.name}': incompatible types, expected [${k.typeId}], but kernel has [${targResolved}]`,
        at,
      );
    }
    out.set(ext.name, { kind: 'btf', btfId: found.id, module: found.module });
  }
  return out;
}
