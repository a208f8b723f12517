// The hash that stands for a whole software or service list: the agent sends it in every report and the items
// only when it changed (see ../inventory-gate.ts). Items are sorted first, so the order a database
// happens to return them in never makes a change.

/**
 * Sorts `items` in place by the given keys and returns the SHA-256 (hex) of every field of every item in
 * that order. Items are flat (strings, numbers, null): their fields are joined with separators that cannot
 * occur in them, which costs a tenth of JSON.stringify over 3,000 packages.
 */
export function sortAndHash<T extends object>(items: T[], keys: readonly (keyof T)[]): string {
  // One key string per item, built once: a comparator that looks up five fields costs 3,000 × log 3,000 times that.
  const keyed = items.map((item) => ({
    item,
    key: keys.map((key) => String(item[key] ?? "")).join("\u0000"),
  }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const hasher = new Bun.CryptoHasher("sha256");
  const parts: string[] = [];
  keyed.forEach((entry, index) => {
    items[index] = entry.item;
    for (const [name, value] of Object.entries(entry.item))
      parts.push(name, "\u0001", String(value), "\u0002");
    parts.push("\u0003");
  });
  return hasher.update(parts.join("")).digest("hex");
}
