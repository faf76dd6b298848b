/**
 * What must share a split: items of one group (observation, recording) and copies of each other
 * (validation's duplicate groups), transitively. Union-find over both kinds of link: per item
 * its group (0 .. groups - 1) and its copy group (0 .. copyGroups - 1), -1 for none; nodes are
 * the groups, then the copy groups. Returns per item its set's root node, -1 for an item with
 * neither; items are linked in input order, which decides the roots.
 */
export function splitGroupRoots(
  group: Int32Array,
  copies: Int32Array,
  groups: number,
  copyGroups: number,
): Int32Array {
  const parent = Int32Array.from({ length: groups + copyGroups }, (_, n) => n);
  const find = (n: number): number => {
    while (parent[n] !== n) n = parent[n] = parent[parent[n]!]!;
    return n;
  };
  group.forEach((g, i) => {
    const d = copies[i]!;
    if (g >= 0 && d >= 0) parent[find(g)] = find(groups + d);
  });
  return Int32Array.from(group, (g, i) =>
    g >= 0 ? find(g) : copies[i]! >= 0 ? find(groups + copies[i]!) : -1,
  );
}
