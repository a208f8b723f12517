// The exposition writer: escaping, cumulative histogram buckets, counters named as promtool wants, and a
// failing collector that costs its own family only.
import { expect, test } from "bun:test";
import { MetricsRegistry } from "../../../src/server/metrics/registry.ts";

test("label values are escaped; help lines keep one line", async () => {
  const r = new MetricsRegistry();
  r.gauge("relevo_x", "two\nlines \\ here", () => [{ labels: { v: 'a"b\\c\nd' }, value: 1 }]);
  const text = await r.render();
  expect(text).toContain("# HELP relevo_x two\\nlines \\\\ here\n");
  expect(text).toContain('relevo_x{v="a\\"b\\\\c\\nd"} 1\n');
});

test("histogram buckets are cumulative, with +Inf, _sum and _count", async () => {
  const r = new MetricsRegistry();
  const h = r.histogram("relevo_h_seconds", "h", [0.1, 1]);
  for (const value of [0.05, 0.5, 0.5, 5]) h.observe(value, { route: "/x" });
  const text = await r.render();
  expect(text).toContain('relevo_h_seconds_bucket{route="/x",le="0.1"} 1\n');
  expect(text).toContain('relevo_h_seconds_bucket{route="/x",le="1"} 3\n');
  expect(text).toContain('relevo_h_seconds_bucket{route="/x",le="+Inf"} 4\n');
  expect(text).toContain('relevo_h_seconds_sum{route="/x"} 6.05\n');
  expect(text).toContain('relevo_h_seconds_count{route="/x"} 4\n');
});

test("counters end in _total; names and labels are checked; a name is registered once", () => {
  const r = new MetricsRegistry();
  expect(() => r.counter("relevo_requests", "x")).toThrow("_total");
  expect(() => r.gauge("relevo-bad", "x", () => 1)).toThrow("not a Prometheus metric name");
  r.gauge("relevo_once", "x", () => 1);
  expect(() => r.gauge("relevo_once", "x", () => 1)).toThrow("registered twice");
});

test("a module registers its own gauges; one that fails is left out and counted", async () => {
  const r = new MetricsRegistry();
  r.gauge("relevo_archive_backlog_files", "day files waiting for the archive", async () => 7);
  r.gauge("relevo_broken", "x", () => {
    throw new Error("gone");
  });
  const text = await r.render();
  expect(text).toContain("relevo_archive_backlog_files 7\n");
  expect(text).not.toContain("relevo_broken");
  expect(text).toContain("relevo_metrics_collect_failures 1\n");
});
