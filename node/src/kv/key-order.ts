/**
 * Key order shared by every store: UTF-8 byte order, which LevelDB uses and
 * which equals Unicode code point order. JavaScript's `<` compares UTF-16
 * code units and differs for U+E000..U+FFFF against astral characters.
 */

// Maps a UTF-16 code unit so that unit order becomes code point order (valid strings only).
function rank(u: number): number {
  if (u >= 0xe000) return u - 0x800;
  if (u >= 0xd800) return u + 0x2000;
  return u;
}

/** Negative, zero or positive as `a` sorts before, with or after `b` in UTF-8 byte order. */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return rank(x) - rank(y);
  }
  return a.length - b.length;
}
