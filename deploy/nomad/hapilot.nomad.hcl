# hapilot on Nomad: one hapilot (with its own HAProxy) per edge node, from the Docker image in
# docker/Dockerfile, on the host network. hapilot registers itself in Consul with a check on /ready.
# A stop deregisters it first (shutdown_delay), then SIGTERM lets hapilot stop HAProxy before the
# kill_timeout. See deploy/nomad/README.md.
job "hapilot" {
  datacenters = ["dc1"]
  type        = "system" # one per eligible node; keep the edge nodes apart with the constraint below

  constraint {
    attribute = "${node.class}"
    value     = "edge"
  }

  update {
    max_parallel     = 1 # one edge node at a time
    min_healthy_time = "10s"
    healthy_deadline = "2m"
    auto_revert      = true
  }

  group "hapilot" {
    network {
      mode = "host"
      port "http" {
        static = 8080 # HAPROXY_HTTP_PORT: the shared HTTP frontend
      }
      port "status" {
        static = 9105 # hapilot's status server: /healthz, /ready, /status, /metrics
      }
    }

    # hapilot itself in Consul; its tags carry no HAPROXY.ENABLE, so it never routes to itself.
    service {
      name     = "hapilot"
      provider = "consul"
      port     = "status"
      tags     = ["hapilot", "metrics"]

      check {
        name     = "HAProxy serves the current config"
        type     = "http"
        path     = "/ready"
        interval = "5s"
        timeout  = "2s"
      }
    }

    service {
      name     = "hapilot-http"
      provider = "consul"
      port     = "http"

      check {
        name     = "HTTP frontend accepts connections"
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "hapilot" {
      driver = "docker"

      config {
        image        = "hapilot:0.1.0" # built from docker/Dockerfile and pushed to your registry
        network_mode = "host"
        args         = ["run"]
        # HAProxy needs about two descriptors per connection (HAPROXY_MAXCONN_GLOBAL=50000 → ~100,000).
        ulimit {
          nofile = "131072:131072"
        }
        # syn-drop reloads instead of seamless ones (HAPILOT_RELOAD=syn-drop): the rules go into this
        # network namespace, here the host's. Uncomment, and allow the capability in the client's
        # docker plugin config (allow_caps).
        # cap_add = ["NET_ADMIN"]
      }

      # Settings from Consul KV (defaults when a key is absent), re-rendered when a key changes; env = true
      # turns them into the task's environment, and change_mode = "restart" restarts hapilot (HAProxy with it).
      template {
        destination = "local/hapilot.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          CONSUL_HTTP_ADDR={{ env "attr.unique.network.ip-address" }}:8500
          HAPROXY_DOM={{ keyOrDefault "hapilot/config/HAPROXY_DOM" "example.com" }}
          HAPROXY_HTTP_PORT={{ env "NOMAD_PORT_http" }}
          HAPILOT_STATUS_LISTEN={{ env "NOMAD_ADDR_status" }}
          HAPROXY_MAXCONN_GLOBAL={{ keyOrDefault "hapilot/config/HAPROXY_MAXCONN_GLOBAL" "50000" }}
          HAPROXY_TIMEOUT_SERVER={{ keyOrDefault "hapilot/config/HAPROXY_TIMEOUT_SERVER" "30s" }}
          EOT
      }

      # Your own Handlebars templates instead of the image's (a copy of templates/ with your edits,
      # checked first with `hapilot check --templates DIR`): unpack them into local/templates and add
      # HAPILOT_TEMPLATES=/local/templates to the template above.
      # artifact {
      #   source      = "https://artifacts.example.com/hapilot/templates-0.1.0.tar.gz"
      #   destination = "local/templates"
      # }

      # The Consul ACL token from a Nomad variable (`nomad var put nomad/jobs/hapilot consul_token=…`),
      # never in the job file; secrets/ is not readable through the alloc filesystem API.
      template {
        destination = "secrets/consul.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/hapilot" }}CONSUL_HTTP_TOKEN={{ .consul_token }}{{ end }}
          EOT
      }

      # Deregister from Consul first and give clients (keepalived, DNS) this long to move away…
      shutdown_delay = "5s"
      # …then SIGTERM: hapilot stops, and stops HAProxy (HAPILOT_STOP_HAPROXY_ON_EXIT in the image).
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
