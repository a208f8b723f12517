// The hash that stands for a whole software or service list: the agent sends it in every report and the items
// only when it changed (see ../inventory-gate.ts). Items are sorted first, so the order a database
// happens to return them in never makes a change.

const collator = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Sorts `items` in place by the given keys and returns the SHA-256 (hex) of their JSON. */
export function sortAndHash<T extends object>(items: T[], keys: readonly (keyof T)[]): string {
  items.sort((a, b) => {
    for (const key of keys) {
      const order = collator(String(a[key] ?? ""), String(b[key] ?? ""));
      if (order) return order;
    }
    return 0;
  });
  return new Bun.CryptoHasher("sha256").update(JSON.stringify(items)).digest("hex");
}
