// Types of run.mjs, for TypeScript tests (vitest imports './run.mjs').

export declare const DEFAULT_MODULES: readonly ['mdpy', 'mbochs', 'mbochs_rw'];
export type SampleModule = (typeof DEFAULT_MODULES)[number];

export interface GuestImage {
  kver: string;
  kernel: string;
  initrd: string;
  prepareSeconds: number;
}

/** Seconds since QEMU started (prepare: seconds prepare.sh took). */
export interface GuestPhases {
  prepare: number;
  init?: number;
  ready?: number;
  scriptDone?: number;
  total?: number;
}

export interface GuestResult {
  /** The guest script's exit code; null when the guest never wrote one (died, stopped, timed out). */
  code: number | null;
  timedOut: boolean;
  signal: NodeJS.Signals | null;
  qemuStatus: number | null;
  seconds: number;
  phases: GuestPhases;
  consoleLog: string;
  resultsDir: string;
  /** The guest kernel's "BUG:" / "WARNING:" / "Oops" / "Bad page" lines, each once ([] when clean). */
  kernelComplaints: string[];
  error?: string;
}

export interface GuestOptions {
  /** Repo-relative path (or /project/...) of the script the guest runs. */
  script: string;
  /** Sample modules to load; default all three. */
  modules?: SampleModule[];
  /** mdev types init.sh creates before the script (listed in /run/vgpu/mdev). */
  mdev?: string[];
  /** Host->guest TCP forwards on loopback: "127.0.0.1:HOSTPORT:GUESTPORT" or { port, guest }. */
  forwards?: (string | { host?: string; port: number; guest: number })[];
  /** Exported to the guest script. */
  env?: Record<string, string | number>;
  /** Kill the guest after this long; default 240 000. */
  timeoutMs?: number;
  repo?: string;
  workDir?: string;
  memory?: string;
  /** true: timestamped console lines to stderr; or a function that gets each line. */
  echo?: boolean | ((line: string) => void);
  /** Extra QEMU arguments (a QMP socket, virtio-keyboard-pci / virtio-tablet-pci, ...). */
  qemuArgs?: string[];
}

export interface Guest {
  pid: number | undefined;
  /** Console lines so far (without timestamps). */
  readonly lines: string[];
  consoleLog: string;
  /** Host folder the guest sees as /results (writable). */
  resultsDir: string;
  exited: Promise<GuestResult>;
  /** The first console line matching re (already seen or still to come). */
  waitFor(re: RegExp | string, ms?: number): Promise<string>;
  /** Kills QEMU (SIGTERM) if it still runs; resolves with the result. */
  stop(): Promise<GuestResult>;
}

export declare function prepareGuest(options?: { repo?: string; quiet?: boolean }): GuestImage;
export declare function freePort(): Promise<number>;
export declare function startGuest(options: GuestOptions): Guest;
export declare function runGuest(options: GuestOptions): Promise<GuestResult>;
export declare function formatPhases(phases: GuestPhases): string;
