// A short run of the fuzz properties (test/fuzz/properties.ts); `npm run fuzz` runs them long
// (over 100,000 cases). FC_SEED changes the seed; a failure prints the input that broke it.
import { test } from 'node:test';
import path from 'node:path';
import * as P from './properties.js';
import { haproxyCheck, tempDir } from '../helpers/haproxy.js';
import { tempPaths } from '../helpers/render.js';

const oracle = P.oracle();

test('fuzz: any catalog renders only template lines (names, tags, addresses, ports)', async () => {
  P.catalogsRenderOnlyTemplateLines(await oracle, { numRuns: 600 });
});

test('fuzz: entry order never changes the config', async () => {
  P.orderDoesNotMatter(await oracle, { numRuns: 200 });
});

test('fuzz: any catalog file text is entries or one coded one-line error', async () => {
  P.catalogTextNeverCrashes(await oracle, { numRuns: 600 });
});

test('fuzz: tag lists never crash the parser; order and repetition do not matter', () => {
  P.tagsNeverCrash({ numRuns: 2000 });
});

test('fuzz: environment values are rejected in one line or render only template lines', async () => {
  P.settingsNeverInject(await oracle, { numRuns: 1000 });
});

test('fuzz: configs from hostile IP catalogs pass the real haproxy -c', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const paths = tempPaths(dir);
    await P.catalogsPassHaproxy(await oracle, { numRuns: 12, paths, check: (r) => haproxyCheck(r, path.join(dir, 'haproxy.cfg')) });
  } finally {
    await cleanup();
  }
});
