// The store as the app sees it when alerts are on: every new report, once stored (and so acknowledged
// durably), is handed to the alert engine, which only queues it. A duplicate is not evaluated twice.
import type { Store } from "../store/types.ts";

export function observeAppends(store: Store, onStored: (ip: string, json: string) => void): Store {
  return {
    async append(report, sourceIp) {
      const stored = await store.append(report, sourceIp);
      if (!stored.duplicate) onStored(stored.ip, report.json);
      return stored;
    },
    readDay: (ip, date, filter) => store.readDay(ip, date, filter),
    newestDate: (ip) => store.newestDate(ip),
    listFiles: (filter) => store.listFiles(filter),
    hosts: () => store.hosts(),
    health: () => store.health(),
    close: () => store.close(),
  };
}
