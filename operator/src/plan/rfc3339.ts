/**
 * RFC 3339 times from epoch milliseconds without constructing a Date, so the pure planner code never
 * touches anything that could read the clock (the purity check flags every `new Date`).
 */

/** `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`, exactly as Date#toISOString writes it (years 0-9999). */
export function rfc3339(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`rfc3339: not a time: ${ms}`);
  const t = Math.floor(ms);
  const days = Math.floor(t / 86_400_000);
  let rest = t - days * 86_400_000;
  const hh = Math.floor(rest / 3_600_000);
  rest -= hh * 3_600_000;
  const mi = Math.floor(rest / 60_000);
  rest -= mi * 60_000;
  const ss = Math.floor(rest / 1000);
  const mss = rest - ss * 1000;
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(y, 4)}-${p(m)}-${p(d)}T${p(hh)}:${p(mi)}:${p(ss)}.${p(mss, 3)}Z`;
}
