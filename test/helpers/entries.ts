// Builders for Consul health entries (the shape of GET /v1/health/service/:name).
import type { HealthEntry } from '../../src/consul/schemas.js';
import { loadSettings, type GlobalSettings } from '../../src/settings.js';

export interface EntryOptions {
  node?: string;
  nodeAddress?: string;
  address?: string;
  port?: number;
  status?: 'passing' | 'warning' | 'critical' | 'maintenance';
  weights?: { Passing: number; Warning: number };
  modifyIndex?: number;
  nodeStatus?: 'passing' | 'critical';
}

export function entry(service: string, id: string, tags: string[], o: EntryOptions = {}): HealthEntry {
  const node = o.node ?? 'node1';
  return {
    Node: { ID: '', Node: node, Address: o.nodeAddress ?? '10.0.0.1', Datacenter: 'dc1' },
    Service: {
      ID: id, Service: service, Tags: tags, Address: o.address ?? '', Port: o.port ?? 8000,
      Weights: o.weights ?? { Passing: 1, Warning: 1 }, ModifyIndex: o.modifyIndex ?? 10, CreateIndex: 10,
    },
    Checks: [
      { Node: node, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: o.nodeStatus ?? 'passing', ServiceID: '', ServiceName: '' },
      { Node: node, CheckID: `service:${id}`, Name: 'check', Status: o.status ?? 'passing', ServiceID: id, ServiceName: service },
    ],
  };
}

export const ENABLE = 'HAPROXY.ENABLE=true';

/** Settings as from an environment with only these variables set (defaults otherwise). */
export function settings(env: Record<string, string> = {}): GlobalSettings {
  return loadSettings({ HAPROXY_DOM: 'example.test', ...env });
}
