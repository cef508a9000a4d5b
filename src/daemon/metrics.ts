// hapilot's own Prometheus metrics (HAProxy's are served by its built-in exporter on the stats port).
// One registry per daemon, so tests can run several.
import v8 from 'node:v8';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../consul/client.js';

/** Bounded label values: `/v1/health/service/web` → `/v1/health/service/:service`. */
export function endpointLabel(endpoint: string): string {
  return endpoint.replace(/^\/v1\/health\/service\/.*$/, '/v1/health/service/:service');
}

const STARTED_S = Math.round(Date.now() / 1000 - process.uptime());

export class Metrics {
  readonly registry = new Registry();
  readonly reloads = new Counter({ name: 'hapilot_reloads_total', help: 'Configs applied to HAProxy by result, trigger and action (start, reload, adopt, runtime)', labelNames: ['result', 'trigger', 'action'] as const, registers: [this.registry] });
  readonly reloadsDelayed = new Counter({ name: 'hapilot_reloads_delayed_total', help: 'Reloads delayed because too many old HAProxy processes were still draining', registers: [this.registry] });
  readonly selfCheckFailures = new Counter({ name: 'hapilot_self_check_failures_total', help: 'Reloads after which frontends or backends were not as expected (the last good config was restored)', registers: [this.registry] });
  readonly haproxyRestarts = new Counter({ name: 'hapilot_haproxy_restarts_total', help: 'Times hapilot found HAProxy not running and started it again', registers: [this.registry] });
  readonly residualKilled = new Counter({ name: 'hapilot_haproxy_residual_killed_total', help: 'Old HAProxy processes ended for outliving hard-stop-after plus the grace period', registers: [this.registry] });
  readonly reloadDuration = new Histogram({ name: 'hapilot_reload_duration_seconds', help: 'Time to reload HAProxy and confirm it', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry] });
  readonly haproxyReloadDuration = new Histogram({ name: 'hapilot_haproxy_reload_duration_seconds', help: "HAProxy's own part of a start or reload: from the command to its new worker listed (hapilot's preparation and self-check left out)", labelNames: ['action'] as const, buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry] });
  readonly renderDuration = new Histogram({ name: 'hapilot_render_duration_seconds', help: 'Time from snapshot to a validated config (model, render, haproxy -c)', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly validations = new Counter({ name: 'hapilot_config_validations_total', help: 'haproxy -c runs on staged configs (bisection included)', registers: [this.registry] });
  readonly bisections = new Counter({ name: 'hapilot_bisections_total', help: 'Searches for the services that make haproxy -c reject a config', registers: [this.registry] });
  readonly behindSeconds = new Gauge({ name: 'hapilot_behind_seconds', help: 'How long HAProxy has not run the latest catalog (0 when in step); the reason is on /status', registers: [this.registry] });
  readonly syncFailures = new Counter({ name: 'hapilot_sync_failures_total', help: 'Syncs that failed (render, write, validation, Runtime API or reload) and were scheduled for a retry', labelNames: ['stage'] as const, registers: [this.registry] });
  readonly validationFailures = new Counter({ name: 'hapilot_validation_failures_total', help: 'Rendered configs that haproxy -c rejected', registers: [this.registry] });
  readonly quarantined = new Gauge({ name: 'hapilot_quarantined_services', help: 'Services or instances left out of the config, with a reason in /status', registers: [this.registry] });
  readonly consulRequests = new Counter({ name: 'hapilot_consul_requests_total', help: 'Requests to Consul by endpoint and outcome', labelNames: ['endpoint', 'outcome', 'blocking'] as const, registers: [this.registry] });
  readonly consulErrors = new Counter({ name: 'hapilot_consul_errors_total', help: 'Failed requests to Consul', labelNames: ['endpoint'] as const, registers: [this.registry] });
  readonly openLongPolls = new Gauge({ name: 'hapilot_consul_open_long_polls', help: 'Blocking queries to Consul open right now', registers: [this.registry] });
  readonly inFlight = new Gauge({ name: 'hapilot_consul_requests_in_flight', help: 'Requests to Consul open right now (blocking or not)', registers: [this.registry] });
  readonly fullResyncs = new Counter({ name: 'hapilot_consul_full_resyncs_total', help: 'Re-reads of every candidate service (the initial one included)', registers: [this.registry] });
  readonly lostLongPolls = new Counter({ name: 'hapilot_consul_lost_long_polls_total', help: 'Consul long-polls asked again because Consul had passed their index and no answer came', labelNames: ['endpoint'], registers: [this.registry] });
  readonly lastSync = new Gauge({ name: 'hapilot_last_successful_sync_timestamp_seconds', help: 'When HAProxy last got a config matching the catalog (or was confirmed to have it)', registers: [this.registry] });
  readonly consulIndex = new Gauge({ name: 'hapilot_consul_index', help: 'X-Consul-Index of the last applied snapshot', registers: [this.registry] });
  readonly holds = new Gauge({ name: 'hapilot_mass_removal_holds', help: 'Backends held at their previous servers by the mass-removal guard', registers: [this.registry] });
  readonly degraded = new Gauge({ name: 'hapilot_degraded', help: '1 while hapilot reports a degraded reason on /status', registers: [this.registry] });
  readonly backendServers = new Gauge({ name: 'hapilot_backend_servers', help: 'Servers per backend by state, as HAProxy reports them', labelNames: ['backend', 'state'] as const, registers: [this.registry] });
  readonly oldWorkers = new Gauge({ name: 'hapilot_haproxy_old_workers', help: 'HAProxy workers from earlier reloads still draining', registers: [this.registry] });
  readonly poolKept = new Gauge({ name: 'hapilot_pool_kept_servers', help: 'Servers kept in rotation past the depool threshold although they wanted out, per backend that has any (listed on /status)', labelNames: ['backend'] as const, registers: [this.registry] });
  readonly poolInvalid = new Gauge({ name: 'hapilot_pool_invalid_records', help: 'Unusable pool records (and docker-haproxy weights) in Consul KV, listed with key and reason on /status', registers: [this.registry] });
  readonly oldestWorkerAge = new Gauge({ name: 'hapilot_haproxy_oldest_old_worker_age_seconds', help: 'Age of the oldest draining HAProxy worker (0 when none)', registers: [this.registry] });

  // The process itself, under the names Prometheus clients give them, read when scraped (nothing is
  // sampled in between: an idle daemon runs no timer for them). prom-client's default set is not
  // used: its event-loop delay histogram samples every 10 ms.
  readonly residentMemory = new Gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size of hapilot in bytes', registers: [this.registry], collect() { this.set(process.memoryUsage.rss()); } });
  readonly heapUsed = new Gauge({ name: 'nodejs_heap_size_used_bytes', help: 'V8 heap in use in bytes', registers: [this.registry], collect() { this.set(v8.getHeapStatistics().used_heap_size); } });
  readonly heapTotal = new Gauge({ name: 'nodejs_heap_size_total_bytes', help: 'V8 heap reserved in bytes', registers: [this.registry], collect() { this.set(v8.getHeapStatistics().total_heap_size); } });
  readonly externalMemory = new Gauge({ name: 'nodejs_external_memory_bytes', help: 'Memory outside the V8 heap held by its objects (buffers) in bytes', registers: [this.registry], collect() { this.set(process.memoryUsage().external); } });
  readonly cpuSeconds = new Counter({ name: 'process_cpu_seconds_total', help: 'CPU time of hapilot (user and system) in seconds', registers: [this.registry], collect() { const { user, system } = process.cpuUsage(); this.reset(); this.inc((user + system) / 1e6); } });
  readonly startTime = new Gauge({ name: 'process_start_time_seconds', help: 'When hapilot started, in seconds since the epoch', registers: [this.registry], collect() { this.set(STARTED_S); } });

  /** Feeds Consul request metrics from the client adapter. */
  consulObserver(): RequestObserver {
    return {
      start: (endpoint, blocking) => {
        const label = endpointLabel(endpoint);
        this.inFlight.inc();
        if (blocking) this.openLongPolls.inc();
        return (outcome) => {
          this.inFlight.dec();
          if (blocking) this.openLongPolls.dec();
          this.consulRequests.inc({ endpoint: label, outcome, blocking: String(blocking) });
          if (outcome === 'error') this.consulErrors.inc({ endpoint: label });
        };
      },
    };
  }
}
