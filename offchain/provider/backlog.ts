/**
 * The order in which a provider worker takes up posted jobs waiting for a prefetch slot (worker.ts,
 * `startCandidates`): the best paid per millisecond of our inference time first, then the oldest.
 */

/** A posted job waiting for a slot, and what it pays per millisecond of our inference time. */
export type Offer = { jobId: bigint; value: number };

/**
 * Removes the best of `offers` and returns it (undefined when none is left): the highest value, then the
 * lowest job id. One pass, not a sort: a worker takes one job each time a slot frees, from a backlog that may
 * be thousands long (`npm run bench:schedule`). The others' order is not kept.
 */
export function takeBest<T extends Offer>(offers: T[]): T | undefined {
  if (offers.length === 0) return undefined;
  let best = 0;
  for (let i = 1; i < offers.length; i++) {
    const [a, b] = [offers[i]!, offers[best]!];
    if (a.value > b.value || (a.value === b.value && a.jobId < b.jobId)) best = i;
  }
  const taken = offers[best]!;
  offers[best] = offers.at(-1)!;
  offers.pop();
  return taken;
}
