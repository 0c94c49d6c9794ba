// `.kconfig` extern values, as libbpf fills them: CONFIG_* from the running kernel's config
// (/boot/config-$(uname -r), else /proc/config.gz), LINUX_* computed, weak ones missing left 0.
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import type { Location } from '../errors.js';
import type { ExternSpec } from '../object/index.js';
import { LoadError } from './errors.js';

/** libbpf_tristate: TRI_NO, TRI_YES, TRI_MODULE. */
const TRISTATE: Record<string, number> = { n: 0, y: 1, m: 2 };

/** The kernel config as text, from the first of libbpf's places that exists (either may be gzipped). */
export function readKernelConfig(
  paths = [`/boot/config-${release()}`, '/proc/config.gz'],
): string | undefined {
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const raw = readFileSync(p);
    // gzip magic 1f 8b; libbpf's gzopen reads plain files too.
    return (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('latin1');
  }
  return undefined;
}

/** The kernel's `CONFIG_X=value` lines (comments and `# CONFIG_X is not set` carry no value). */
export function parseKernelConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('CONFIG_')) continue;
    const eq = line.indexOf('=');
    if (eq < 0 || eq === line.length - 1) continue;
    const name = line.slice(0, eq);
    if (!out.has(name)) out.set(name, line.slice(eq + 1));
  }
  return out;
}

export interface KconfigSources {
  /** KERNEL_VERSION(a, b, c) of the running kernel. */
  kernelVersion: number;
  bpfCookie: boolean;
  syscallWrapper: boolean;
  /** CONFIG_* values; called only when the object has CONFIG_ externs. */
  config: () => Map<string, string> | undefined;
}

class Writer {
  constructor(
    private readonly ext: ExternSpec & { kconfig: NonNullable<ExternSpec['kconfig']> },
    private readonly data: DataView,
    private readonly loc: Location,
    private readonly le: boolean,
  ) {}

  private fail(msg: string): never {
    throw new LoadError('kconfig', `extern (kcfg) '${this.ext.name}': ${msg}`, {
      ...this.loc,
      section: '.kconfig',
      typeId: this.ext.btfId,
    });
  }

  num(v: bigint): void {
    const k = this.ext.kconfig;
    if (k.type !== 'int' && k.type !== 'char' && k.type !== 'bool')
      this.fail(`value ${v} implies integer type`);
    if (k.type === 'bool' && v > 1n) this.fail(`value ${v} isn't boolean compatible`);
    const bits = BigInt(k.size * 8);
    if (k.size < 8) {
      // As libbpf: a signed target takes [-2^(bits-1), 2^(bits-1)) of the u64, an unsigned one [0, 2^bits).
      const u = BigInt.asUintN(64, v);
      const ok = k.signed ? BigInt.asUintN(64, u + (1n << (bits - 1n))) < 1n << bits : u >> bits === 0n;
      if (!ok) this.fail(`value ${v} would overflow ${k.size}-byte type`);
    }
    const off = k.offset;
    const le = this.le;
    switch (k.size) {
      case 1:
        this.data.setUint8(off, Number(BigInt.asUintN(8, v)));
        break;
      case 2:
        this.data.setUint16(off, Number(BigInt.asUintN(16, v)), le);
        break;
      case 4:
        this.data.setUint32(off, Number(BigInt.asUintN(32, v)), le);
        break;
      case 8:
        this.data.setBigUint64(off, BigInt.asUintN(64, v), le);
        break;
      default:
        this.fail(`unsupported size ${k.size}`);
    }
  }

  tri(c: 'y' | 'n' | 'm'): void {
    const k = this.ext.kconfig;
    switch (k.type) {
      case 'bool':
        if (c === 'm') this.fail(`value '${c}' implies tristate or char type`);
        this.data.setUint8(k.offset, c === 'y' ? 1 : 0);
        break;
      case 'tristate':
        this.data.setUint32(k.offset, TRISTATE[c]!, this.le);
        break;
      case 'char':
        this.data.setUint8(k.offset, c.charCodeAt(0));
        break;
      default:
        this.fail(`value '${c}' implies bool, tristate, or char type`);
    }
  }

  str(value: string): void {
    const k = this.ext.kconfig;
    if (k.type !== 'char_array') this.fail(`value '${value}' implies char array type`);
    if (value.length < 2 || !value.endsWith('"')) this.fail(`invalid string config '${value}'`);
    // libbpf truncates a long string to fit with its NUL.
    const bytes = Buffer.from(value.slice(1, -1), 'latin1').subarray(0, k.size - 1);
    for (let i = 0; i < bytes.length; i++) this.data.setUint8(k.offset + i, bytes[i]!);
    this.data.setUint8(k.offset + bytes.length, 0);
  }

  /** A CONFIG_ value as the config file spells it. */
  config(value: string): void {
    const c = value[0];
    if (c === 'y' || c === 'n' || c === 'm') return this.tri(c);
    if (c === '"') return this.str(value);
    // strtoull with base 0: decimal, 0x hex, 0 octal.
    const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(value);
    if (m === null) this.fail(`value '${value}' isn't a valid integer`);
    const v =
      m[1]!.length > 1 && m[1]![0] === '0' && !/^0[xX]/.test(m[1]!)
        ? BigInt(`0o${m[1]!.slice(1)}`)
        : BigInt(m[1]!);
    if (this.ext.kconfig.type !== 'int' && this.ext.kconfig.type !== 'char') {
      this.fail(`value '${value}' implies integer type`);
    }
    this.num(v);
  }
}

/**
 * Writes every `.kconfig` extern's value into `contents` (the map's value, zeroed). A strong
 * extern with no value is an error, as libbpf makes it; a weak one stays 0. Returns what was set.
 */
export function fillKconfig(
  externs: readonly ExternSpec[],
  contents: Uint8Array,
  src: KconfigSources,
  littleEndian: boolean,
  loc: Location,
): Map<string, string> {
  const data = new DataView(contents.buffer, contents.byteOffset, contents.byteLength);
  const set = new Map<string, string>();
  let config: Map<string, string> | undefined;
  for (const ext of externs) {
    if (ext.kconfig === undefined) continue;
    const w = new Writer(
      ext as ExternSpec & { kconfig: NonNullable<ExternSpec['kconfig']> },
      data,
      loc,
      littleEndian,
    );
    const name = ext.name;
    if (name === 'LINUX_KERNEL_VERSION') {
      w.num(BigInt(src.kernelVersion));
      set.set(name, `0x${src.kernelVersion.toString(16)}`);
    } else if (name === 'LINUX_HAS_BPF_COOKIE' || name === 'LINUX_HAS_SYSCALL_WRAPPER') {
      const v = name === 'LINUX_HAS_BPF_COOKIE' ? src.bpfCookie : src.syscallWrapper;
      w.num(v ? 1n : 0n);
      set.set(name, v ? '1' : '0');
    } else if (name.startsWith('LINUX_')) {
      // libbpf knows only these virtual values; an unknown weak one reads as zero.
      if (!ext.weak) {
        throw new LoadError('kconfig', `extern (kcfg) '${name}': unrecognized virtual extern`, {
          ...loc,
          section: '.kconfig',
        });
      }
    } else if (name.startsWith('CONFIG_')) {
      config ??= src.config();
      if (config === undefined) {
        throw new LoadError(
          'kconfig',
          `failed to open system Kconfig (/boot/config-${release()} or /proc/config.gz) for extern '${name}'`,
          { ...loc, section: '.kconfig' },
        );
      }
      const value = config.get(name);
      if (value !== undefined) {
        w.config(value);
        set.set(name, value);
      }
    } else {
      throw new LoadError('kconfig', `unrecognized extern '${name}'`, { ...loc, section: '.kconfig' });
    }
    if (!set.has(name) && !ext.weak) {
      throw new LoadError('kconfig', `extern '${name}' (strong): not resolved`, {
        ...loc,
        section: '.kconfig',
        typeId: ext.btfId,
      });
    }
  }
  return set;
}
