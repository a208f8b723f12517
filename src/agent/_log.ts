/** The few logging calls the agent's parts make: a consola instance fits, and so does a test's recorder. */
export interface AgentLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  success(message: string): void;
}
