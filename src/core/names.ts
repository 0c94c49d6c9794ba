// Flavoured names: `task_struct___old` is a local variant of `task_struct`; everything from the
// last `___` that separates two non-underscore characters is ignored when matching.

/** Length of the name without its flavour suffix. */
export function essentialNameLength(name: string): number {
  for (let i = name.length - 5; i >= 0; i--) {
    if (
      name.charCodeAt(i) !== 0x5f &&
      name.charCodeAt(i + 1) === 0x5f &&
      name.charCodeAt(i + 2) === 0x5f &&
      name.charCodeAt(i + 3) === 0x5f &&
      name.charCodeAt(i + 4) !== 0x5f
    ) {
      return i + 1;
    }
  }
  return name.length;
}

/** The name without its flavour: `task_struct___old` → `task_struct`. */
export function essentialName(name: string): string {
  return name.slice(0, essentialNameLength(name));
}

/** Two names equal up to their flavours. */
export function sameEssentialName(a: string, b: string): boolean {
  return essentialName(a) === essentialName(b);
}
