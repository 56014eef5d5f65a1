// Package examples holds example files for operating callback_guard: a demo
// PayGlocal key and token (demo/), a Grafana dashboard (grafana/) and a
// Prometheus scrape configuration with alert rules (prometheus/). It has no
// code; its tests check that the monitoring examples use only the metrics
// the module registers and, when promtool is installed, run promtool on them.
package examples
