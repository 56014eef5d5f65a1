// Package examples holds the example files for running and operating
// callback_guard, and the tests that keep them working: a Caddyfile per
// provider (caddyfiles/), merchant backends in PHP, Node and Python (php/,
// node/, python/), a demo PayGlocal key and token (demo/), a Grafana
// dashboard (grafana/) and a Prometheus scrape configuration with alert
// rules (prometheus/). It has no code; its tests run the Caddyfiles and the
// backends behind a real Caddy, and check that the monitoring examples use
// only the metrics the module registers (with promtool when installed).
package examples
