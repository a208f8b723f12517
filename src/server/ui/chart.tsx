/** @jsxImportSource preact */
// One uPlot line chart over a day. uPlot draws 3,000 points in a few milliseconds; the numbers come from
// the series endpoint, never from the day file itself.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartProps {
  title: string;
  t: number[];
  values: (number | null)[];
  format: (value: number) => string;
  /** A fixed top of the scale (100 for percentages). */
  max?: number;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function Chart({ title, t, values, format, max }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const axis = {
      stroke: cssVar("--fg-soft"),
      grid: { stroke: cssVar("--grid"), width: 1 },
      ticks: { stroke: cssVar("--grid") },
    };
    const plot = new uPlot(
      {
        width: Math.max(240, el.clientWidth),
        height: 180,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true },
          y:
            max === undefined
              ? { range: (_u, _min, hi) => [-(hi > 0 ? hi : 1) * 0.02, hi > 0 ? hi * 1.05 : 1] }
              : // A little room at both ends, so a line at 0 or 100 % is not hidden under the frame.
                { range: [-max * 0.02, max * 1.04] },
        },
        axes: [axis, { ...axis, size: 70, values: (_u, ticks) => ticks.map(format) }],
        series: [
          {},
          {
            label: title,
            stroke: cssVar("--accent"),
            width: 2,
            fill: cssVar("--accent-fill"),
            points: { show: false },
          },
        ],
      },
      [t, values] as uPlot.AlignedData,
      el,
    );
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(240, el.clientWidth), height: 180 }),
    );
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [t, values, title, format, max]);
  const known = values.filter((value): value is number => value !== null);
  const summary = known.length
    ? `${title}: ${known.length} points, lowest ${format(Math.min(...known))}, highest ${format(Math.max(...known))}, last ${format(known.at(-1) as number)}`
    : `${title}: no data for this day`;
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={summary} data-points={known.length} />
    </figure>
  );
}
