/**
 * Seeded randomness for tests that explore many orders: the same seed gives the same run, and a
 * failing run prints its seed so it can be replayed.
 */

/** A random number generator: each call gives a number in [0, 1). */
export type Random = () => number;

/** mulberry32: a tiny, fast 32-bit PRNG, plenty for shuffling test events. */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed from an environment variable (decimal), else a fresh random one. */
export function seedFrom(variable: string, env: Readonly<Record<string, string | undefined>> = process.env): number {
  const raw = env[variable]?.trim();
  if (!raw) return Math.floor(Math.random() * 2 ** 32);
  if (!/^\d+$/.test(raw) || Number(raw) >= 2 ** 32)
    throw new Error(`${variable} must be a whole number from 0 to ${2 ** 32 - 1}, got "${raw}"`);
  return Number(raw);
}

/** Whether an event with probability `p` happens. */
export function chance(random: Random, p: number): boolean {
  return random() < p;
}

/** One item of a non-empty list, by weight. */
export function pickWeighted<T>(random: Random, weighted: readonly (readonly [T, number])[]): T {
  const total = weighted.reduce((sum, [, w]) => sum + w, 0);
  let r = random() * total;
  for (const [item, w] of weighted) {
    r -= w;
    if (r < 0) return item;
  }
  return weighted[weighted.length - 1]![0];
}

/** Shuffles a list in place (Fisher–Yates) and returns it. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
