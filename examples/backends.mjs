#!/usr/bin/env node
// Tiny HTTP backends on loopback for the example services (examples/consul/services.json and
// examples/catalog.json), so the demo routes real requests. Each answers with its name. web-3 is
// not registered at start: the demo's README step registers it. Stops on SIGINT/SIGTERM.
import http from 'node:http';

const BACKENDS = { 'web-1': 18001, 'web-2': 18002, 'web-3': 18003, 'api-1': 18011, 'glance-1': 18021, 'glance-2': 18022, 'legacy-1': 18031 };
const servers = Object.entries(BACKENDS).map(([name, port]) =>
  http.createServer((req, res) => res.end(`${name} answered ${req.method} ${req.url} for ${req.headers.host}\n`)).listen(port, '127.0.0.1'));
console.error(`example backends listening on 127.0.0.1: ${Object.values(BACKENDS).join(', ')}`);
const stop = () => { for (const s of servers) s.close(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
