/**
 * One epoch's order under balanced sampling: every class contributes the same number of draws
 * (the size of an average class), small classes with replacement, large ones without, then
 * the whole is shuffled. Rare classes are seen as often as common ones without reweighting
 * the loss.
 */
export function balancedOrder(labels: Int32Array, numClasses: number, random: () => number): Uint32Array {
  const present = membersByClass(labels, numClasses);
  const perClass = Math.ceil(labels.length / Math.max(1, present.length));
  const order = new Uint32Array(perClass * present.length);
  let k = 0;
  for (const members of present) {
    // Without replacement while members last (a partial Fisher–Yates), then with replacement.
    const pool = [...members];
    for (let d = 0; d < perClass; d++) {
      if (d < pool.length) {
        const j = d + Math.floor(random() * (pool.length - d));
        [pool[d], pool[j]] = [pool[j]!, pool[d]!];
        order[k++] = pool[d]!;
      } else order[k++] = members[Math.floor(random() * members.length)]!;
    }
  }
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function membersByClass(labels: Int32Array, numClasses: number): number[][] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  labels.forEach((l, i) => byClass[l]!.push(i));
  return byClass.filter((m) => m.length);
}

/** Items one balanced epoch draws (the set's size rounded up to a multiple of its classes). */
export function balancedEpochSize(labels: Int32Array): number {
  const classes = new Set(labels).size;
  return Math.ceil(labels.length / Math.max(1, classes)) * classes;
}
