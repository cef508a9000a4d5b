// A silent logger for tests (set HAPILOT_TEST_LOG=debug to see the daemon's lines).
import { createLogger } from '../../src/log.js';

export const testLog = createLogger({ level: (process.env.HAPILOT_TEST_LOG as 'debug' | undefined) ?? 'silent', destination: 2, pretty: false });
