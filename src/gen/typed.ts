// What a module written by `ebpf gen types` calls at run time: the object it is handed is checked
// to be the one its types describe, then given those types.
import { EbpfError } from '../errors.js';
import type { ObjectSpec, ObjectTypes } from '../object/spec.js';
import { FINGERPRINT_PARTS, objectShapes, shapesFingerprint } from './object-shapes.js';
import { checkArgument } from '../internal/options.js';

/** What a generated module knows of the object it was generated from. */
export interface GeneratedTypesCheck {
  /** shapesFingerprint() of the object, records included. */
  fingerprint: string;
  /** The record type names the module declares (`--type`). */
  records: readonly string[];
  /** The command that regenerates the module, for the message. */
  regenerate?: string;
}

/** The object given is not the one a generated module's types were made from. */
export class ObjectTypesMismatchError extends EbpfError {}

/**
 * `spec`, typed by `T`, once its maps, global variables, programs and record types are checked to
 * be those `T` was generated from (shapesFingerprint; either endianness passes). Throws
 * ObjectTypesMismatchError naming the parts that differ, or the NotFoundError of a record type the
 * object's BTF lacks.
 */
export function withObjectTypes<T extends ObjectTypes>(
  spec: ObjectSpec,
  check: GeneratedTypesCheck,
): ObjectSpec<T> {
  checkArgument(
    'withObjectTypes',
    'spec',
    spec,
    'an ObjectSpec',
    typeof spec === 'object' && spec !== null && Array.isArray((spec as { programs?: unknown }).programs),
  );
  checkArgument(
    'withObjectTypes',
    'check',
    check,
    'the check a generated module exports',
    typeof check === 'object' &&
      check !== null &&
      typeof (check as { fingerprint?: unknown }).fingerprint === 'string',
  );
  const have = shapesFingerprint(objectShapes(spec, { records: check.records }));
  if (have !== check.fingerprint) {
    const parts = (s: string): Map<string, string> =>
      new Map(s.split(' ').map((p) => p.split(':') as [string, string]));
    const want = parts(check.fingerprint);
    const got = parts(have);
    const differ = FINGERPRINT_PARTS.filter((p) => want.get(p) !== got.get(p));
    throw new ObjectTypesMismatchError(
      `not the object these types were generated from: its ${differ.join(', ')} differ; ` +
        `regenerate them (${check.regenerate ?? 'ebpf gen types OBJ -o FILE'})`,
      spec.file !== undefined ? { file: spec.file } : {},
    );
  }
  return spec as ObjectSpec<T>;
}
