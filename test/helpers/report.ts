// Reports for tests: the recorded report of a real machine (test/fixtures/report.json) with a fresh id.
import { join } from "node:path";
import type { Report } from "../../src/shared/report.ts";

const fixture = (await Bun.file(join(import.meta.dir, "..", "fixtures", "report.json")).json()) as Report;

export function sampleReport(overrides: Partial<Report> = {}): Report {
  return { ...structuredClone(fixture), report_id: Bun.randomUUIDv7(), ...overrides };
}
