// Where CO-RE looks for target types: the running kernel (vmlinux, then module BTF split on it, as
// libbpf does), or BTF the caller gives (a file, like libbpf's btf_custom_path), which replaces both.
import type { Btf } from '../btf/btf.js';
import { parseBtfFile } from '../btf/from-elf.js';
import { kernelModuleNames, loadKernelBtf, loadModuleBtf } from '../btf/kernel.js';
import { readInputFile } from '../internal/file.js';

export interface CoreTargetBtf {
  /** `vmlinux`, a module name, or the file the BTF came from. */
  name: string;
  btf: Btf;
}

export interface CoreTarget {
  /** Searched first. */
  main: CoreTargetBtf;
  /**
   * Searched, in order, only for a local type with no candidate in `main` (module BTF: each is
   * split on `main`, and only its own types are candidates). Called at most once per target.
   */
  modules?: () => CoreTargetBtf[];
}

let kernel: CoreTarget | undefined;

/** The running kernel: /sys/kernel/btf/vmlinux, then the modules' BTF. Parsed once per process. */
export function kernelTarget(): CoreTarget {
  if (!kernel) {
    let modules: CoreTargetBtf[] | undefined;
    kernel = {
      main: { name: 'vmlinux', btf: loadKernelBtf() },
      modules: () => {
        modules ??= kernelModuleNames().map((name) => ({ name, btf: loadModuleBtf(name) }));
        return modules;
      },
    };
  }
  return kernel;
}

/** A target made of one BTF (nothing else is searched). */
export function btfTarget(btf: Btf, name = btf.file ?? 'custom BTF'): CoreTarget {
  return { main: { name, btf } };
}

/** BTF from a file (raw BTF or an ELF object's .BTF), as libbpf's `btf_custom_path`. */
export function fileTarget(path: string): CoreTarget {
  return btfTarget(parseBtfFile(readInputFile(path), { file: path }), path);
}
