import { setLogLevel } from "../src/shared/log.ts";

// Quiet the store and server logs in tests; RELEVO_TEST_LOGS=1 shows them.
setLogLevel(process.env.RELEVO_TEST_LOGS ? 4 : 0);
