// What an executable declares about itself as a service; the platform modules turn it into files and
// commands. Nothing here knows about systemd or Task Scheduler.

/**
 * One argument of the service's command line. A file the service must read (a TLS key, a CA) is passed as
 * `{ file }`: on Linux systemd hands it over as a credential (readable by the service user whatever the
 * file's own mode), on Windows the path is used as is (the task runs as SYSTEM).
 */
export type Arg = string | { file: string; name: string };

export interface ServiceSpec {
  /** relevo-agent or relevo-server: the command, unit, task and file names. */
  name: string;
  /** "agent" or "server": the folder under ProgramData on Windows. */
  short: string;
  description: string;
  /** The command line after the executable, given where this platform keeps the service's state. */
  args: (stateDir: string) => Arg[];
  /** Written to a file only root/Administrators can read, never put on the command line. */
  secrets: Secret[];
  linux: {
    /** "dynamic": a user systemd makes per start; "system": a fixed system user (for files an admin makes). */
    user: "dynamic" | "system";
    /** Capabilities the service keeps; all others are dropped, for root too. */
    capabilities: string[];
    protectHome: "yes" | "read-only";
    addressFamilies: string[];
    /** More [Service] lines, each explained by a comment line before it. */
    extra: string[];
    /**
     * Self-update through a root oneshot unit started by a .path unit when the service stages a verified
     * file in its state directory (the service itself cannot write its executable): the oneshot's command
     * line after the executable, given the state directory's real path.
     */
    updateUnit?: { args: (stateDir: string) => string[] };
  };
  windows: {
    /** Task Scheduler priority, 0 (realtime) to 10 (idle); 7 is below normal, the default. */
    priority: number;
    /** The flag naming a `KEY=value` file the executable reads itself: a task has no environment of its own. */
    envFileFlag?: string;
  };
}

/** A secret setting, as an environment variable (`RELEVO_TOKEN`). */
export interface Secret {
  env: string;
  value: string;
}

/** Where a service's pieces live on one platform. */
export interface Layout {
  /** The installed executable. */
  binary: string;
  /** The service's own directory: server data, agent spool. */
  stateDir: string;
  /** The secrets file: `KEY=value` lines (systemd's EnvironmentFile= on Linux, --env-file on Windows). */
  secretsFile: string;
}
