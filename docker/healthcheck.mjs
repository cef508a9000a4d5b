// The image's HEALTHCHECK: exit 0 when hapilot's /ready answers 200, 1 otherwise (not ready, not
// answering within 2 s, or not listening). It asks the status server where HAPILOT_STATUS_LISTEN says
// (the daemon's own default otherwise); a wildcard address is asked on loopback.
const listen = process.env.HAPILOT_STATUS_LISTEN || '127.0.0.1:9105';
const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
if (!m) {
  console.error(`healthcheck: HAPILOT_STATUS_LISTEN ${JSON.stringify(listen)} is invalid: expected HOST:PORT`);
  process.exit(1);
}
let host = m[1] ?? m[2];
if (host === '0.0.0.0') host = '127.0.0.1';
if (host === '::') host = '::1';
const url = `http://${host.includes(':') ? `[${host}]` : host}:${m[3]}/ready`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  const body = (await res.text()).trim();
  console.log(`${url}: ${res.status} ${body}`);
  process.exit(res.status === 200 ? 0 : 1);
} catch (err) {
  console.log(`${url}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
