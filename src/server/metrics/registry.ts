// Counters, histograms and gauges read when scraped, in one registry per server. A module that owns a number
// (the archive's backlog, say) registers a collector here instead of the metrics code reaching into it.
import {
  checkName,
  type Family,
  type Labels,
  type MetricType,
  type Sample,
  writeFamilies,
} from "./exposition.ts";

/** Reads a family's samples at scrape time; may be async (a database count). */
export type Collect = () => readonly Sample[] | Promise<readonly Sample[]>;

interface Registered {
  name: string;
  help: string;
  type: MetricType;
  collect: Collect;
}

/** Labels in a fixed order, as the key of one series. */
function keyOf(labels: Labels): string {
  return JSON.stringify(Object.keys(labels).map((key) => [key, labels[key]]));
}

export class Counter {
  readonly #series = new Map<string, { labels: Labels; value: number }>();

  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels);
    const entry = this.#series.get(key);
    if (entry) entry.value += by;
    else this.#series.set(key, { labels, value: by });
  }

  samples(): Sample[] {
    return [...this.#series.values()].map(({ labels, value }) => ({ labels, value }));
  }
}

/** Cumulative buckets, upper bounds in seconds (or items), +Inf added. */
export class Histogram {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(readonly buckets: readonly number[]) {
    for (let i = 1; i < buckets.length; i++) {
      if ((buckets[i] as number) <= (buckets[i - 1] as number)) throw new Error("buckets must increase");
    }
  }

  observe(value: number, labels: Labels = {}): void {
    const key = keyOf(labels);
    let entry = this.#series.get(key);
    if (!entry) {
      entry = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, entry);
    }
    // Each bucket counts what is at most its bound; the cumulative sums are formed when written.
    const index = this.buckets.findIndex((bound) => value <= bound);
    if (index >= 0) entry.counts[index] = (entry.counts[index] as number) + 1;
    entry.sum += value;
    entry.count += 1;
  }

  samples(): Sample[] {
    const out: Sample[] = [];
    for (const { labels, counts, sum, count } of this.#series.values()) {
      let running = 0;
      this.buckets.forEach((bound, i) => {
        running += counts[i] as number;
        out.push({ suffix: "_bucket", labels: { ...labels, le: String(bound) }, value: running });
      });
      out.push({ suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: count });
      out.push({ suffix: "_sum", labels, value: sum });
      out.push({ suffix: "_count", labels, value: count });
    }
    return out;
  }
}

export class MetricsRegistry {
  readonly #families = new Map<string, Registered>();

  /** A family whose samples `collect` returns at every scrape. Names are unique. */
  register(name: string, help: string, type: MetricType, collect: Collect): void {
    checkName(name);
    if (this.#families.has(name)) throw new Error(`metric ${name} is registered twice`);
    this.#families.set(name, { name, help, type, collect });
  }

  /** A counter; its name ends in `_total`, as promtool asks. */
  counter(name: string, help: string): Counter {
    if (!name.endsWith("_total")) throw new Error(`counter ${name} must end in _total`);
    const counter = new Counter();
    this.register(name, help, "counter", () => counter.samples());
    return counter;
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    const histogram = new Histogram(buckets);
    this.register(name, help, "histogram", () => histogram.samples());
    return histogram;
  }

  /** A gauge read at scrape time: one number, or labelled samples. */
  gauge(name: string, help: string, read: () => number | Sample[] | Promise<number | Sample[]>): void {
    this.register(name, help, "gauge", async () => {
      const value = await read();
      return typeof value === "number" ? [{ value }] : value;
    });
  }

  /** The exposition text. A collector that fails leaves its family out and is counted, never the scrape. */
  async render(): Promise<string> {
    const families: Family[] = [];
    let failed = 0;
    for (const entry of this.#families.values()) {
      try {
        families.push({
          name: entry.name,
          help: entry.help,
          type: entry.type,
          samples: await entry.collect(),
        });
      } catch {
        failed += 1;
      }
    }
    families.push({
      name: "relevo_metrics_collect_failures",
      help: "Metric families left out of this scrape because reading them failed",
      type: "gauge",
      samples: [{ value: failed }],
    });
    return writeFamilies(families);
  }
}
