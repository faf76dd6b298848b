/** A size for people, in binary units: `512 B`, `1.5 KiB`, `2.2 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return i ? `${n.toFixed(1)} ${units[i]}` : `${n} B`;
}
