// `bun run bench <name> [args]`: runs scripts/bench/<name>.ts. Benchmarks print medians and ratios measured
// side by side in one run; they are never timed unit tests.
import { readdirSync } from "node:fs";

const [name, ...args] = process.argv.slice(2);
const available = readdirSync(import.meta.dir)
  .filter((file) => file.endsWith(".ts") && file !== "index.ts" && !file.startsWith("_"))
  .map((file) => file.slice(0, -3));

if (!name || !available.includes(name)) {
  console.error(`usage: bun run bench <${available.join("|")}> [options]`);
  process.exitCode = 1;
} else {
  const bench = (await import(`./${name}.ts`)) as { run(args: string[]): Promise<void> };
  await bench.run(args);
}
