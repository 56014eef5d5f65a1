package examples_test

// Checks of the monitoring examples: the Grafana dashboard in grafana/ and
// the Prometheus configuration, alert rules and rule tests in prometheus/.
// Every PromQL expression must use only the metrics the module registers
// (the "Metrics" section of the contract) with their own labels; when
// promtool is installed, the files are also checked and the rule unit tests
// run.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"
)

const (
	dashboardFile = "grafana/callbackguard-dashboard.json"
	promDir       = "prometheus"
	promConfig    = "prometheus.yml"
	rulesFile     = "callbackguard-rules.yml"
	rulesTestFile = "callbackguard-rules.test.yml"
)

// metricLabels holds the metrics the module registers and the labels of each.
var metricLabels = map[string][]string{
	"callback_guard_requests_total":            {"provider", "result"},
	"callback_guard_verify_failures_total":     {"provider", "reason"},
	"callback_guard_request_duration_seconds":  {"provider"},
	"callback_guard_upstream_duration_seconds": {"provider"},
	"callback_guard_store_errors_total":        {"store"},
}

// histograms are the metrics exposed as _bucket, _sum and _count series.
var histograms = map[string]bool{
	"callback_guard_request_duration_seconds":  true,
	"callback_guard_upstream_duration_seconds": true,
}

// allowedLabels are the label names any expression may name.
var allowedLabels = map[string]bool{"provider": true, "result": true, "reason": true, "store": true, "le": true}

// baseMetric maps a series name to the registered metric it belongs to, and
// the labels that series carries.
func baseMetric(name string) (base string, labels []string, ok bool) {
	if l, ok := metricLabels[name]; ok && !histograms[name] {
		return name, l, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		b, found := strings.CutSuffix(name, suffix)
		if found && histograms[b] {
			l := metricLabels[b]
			if suffix == "_bucket" {
				l = append(slices.Clone(l), "le")
			}
			return b, l, true
		}
	}
	return "", nil, false
}

// PromQL keywords and aggregation operators: identifiers that are neither
// metric names nor function calls.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
	"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true,
	"quantile": true, "limitk": true, "limit_ratio": true,
}

// promqlGrouping are the clauses followed by a parenthesized list of labels.
var promqlGrouping = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

type tokKind int

const (
	tokIdent tokKind = iota
	tokString
	tokPunct // one of { } ( ) [ ] ,
	tokOther // operators, numbers, durations, Grafana variables
)

type token struct {
	kind tokKind
	text string
}

func isIdentStart(r rune) bool { return r == '_' || r == ':' || r < 128 && unicode.IsLetter(r) }
func isIdentPart(r rune) bool  { return isIdentStart(r) || r >= '0' && r <= '9' }

// lexPromQL splits a PromQL expression (which may hold Grafana variables
// such as $provider or ${provider}) into the tokens the checks need.
func lexPromQL(expr string) ([]token, error) {
	var toks []token
	rs := []rune(expr)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '#': // comment to end of line
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
		case r == '"' || r == '\'' || r == '`':
			j := i + 1
			for j < len(rs) && rs[j] != r {
				if rs[j] == '\\' && r != '`' {
					j++
				}
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			toks = append(toks, token{tokString, string(rs[i+1 : j])})
			i = j + 1
		case r == '$': // Grafana variable: $name, ${name} or ${name:format}
			j := i + 1
			if j < len(rs) && rs[j] == '{' {
				for j < len(rs) && rs[j] != '}' {
					j++
				}
				j++
			} else {
				for j < len(rs) && isIdentPart(rs[j]) {
					j++
				}
			}
			toks = append(toks, token{tokOther, string(rs[i:min(j, len(rs))])})
			i = j
		case r >= '0' && r <= '9' || r == '.' && i+1 < len(rs) && rs[i+1] >= '0' && rs[i+1] <= '9':
			// number or duration: 0.99, 1e3, 0x1f, 5m, 1h30m
			j := i + 1
			for j < len(rs) && (isIdentPart(rs[j]) || rs[j] == '.' ||
				(rs[j] == '+' || rs[j] == '-') && (rs[j-1] == 'e' || rs[j-1] == 'E')) {
				j++
			}
			toks = append(toks, token{tokOther, string(rs[i:j])})
			i = j
		case isIdentStart(r):
			j := i + 1
			for j < len(rs) && isIdentPart(rs[j]) {
				j++
			}
			toks = append(toks, token{tokIdent, string(rs[i:j])})
			i = j
		case strings.ContainsRune("{}()[],", r):
			toks = append(toks, token{tokPunct, string(r)})
			i++
		default:
			toks = append(toks, token{tokOther, string(r)})
			i++
		}
	}
	return toks, nil
}

// checkExpr checks that expr names at least one callback_guard metric, no
// other metric, and only the labels those metrics have. It returns the
// metrics it names.
func checkExpr(expr string) ([]string, error) {
	toks, err := lexPromQL(expr)
	if err != nil {
		return nil, err
	}
	var metrics []string
	var errs []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		next := func(k int) token {
			if i+k < len(toks) {
				return toks[i+k]
			}
			return token{}
		}
		switch {
		case t.kind == tokPunct && t.text == "[":
			// range or subquery: durations and Grafana variables only
			for i < len(toks) && toks[i].text != "]" {
				i++
			}
		case t.kind == tokPunct && t.text == "{":
			// a selector with no metric name before it
			labels, end, err := selectorLabels(toks, i)
			if err != nil {
				return nil, err
			}
			for _, l := range labels {
				if !allowedLabels[l] {
					errs = append(errs, fmt.Sprintf("label %q is not one of the module's labels", l))
				}
			}
			i = end
		case t.kind != tokIdent:
		case promqlGrouping[t.text]:
			if next(1).text != "(" {
				continue // group_left without labels
			}
			j := i + 2
			for ; j < len(toks) && toks[j].text != ")"; j++ {
				switch {
				case toks[j].kind == tokIdent:
					if !allowedLabels[toks[j].text] {
						errs = append(errs, fmt.Sprintf("%s (...) names label %q, not one of the module's labels", t.text, toks[j].text))
					}
				case toks[j].text != ",":
					errs = append(errs, fmt.Sprintf("unexpected %q in %s (...)", toks[j].text, t.text))
				}
			}
			i = j
		case promqlKeywords[t.text]:
		case next(1).text == "(":
			// a function call
		default:
			base, labels, ok := baseMetric(t.text)
			if !ok {
				errs = append(errs, fmt.Sprintf("unknown metric %q", t.text))
				continue
			}
			metrics = append(metrics, base)
			if next(1).text == "{" {
				sel, end, err := selectorLabels(toks, i+1)
				if err != nil {
					return nil, err
				}
				for _, l := range sel {
					if !allowedLabels[l] || !slices.Contains(labels, l) {
						errs = append(errs, fmt.Sprintf("%s has no label %q (it has %v)", t.text, l, labels))
					}
				}
				i = end
			}
		}
	}
	if len(metrics) == 0 {
		errs = append(errs, "names no callback_guard metric")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return metrics, nil
}

// selectorLabels reads the label matchers of the selector whose "{" is at
// toks[open] and returns the label names and the index of the closing "}".
func selectorLabels(toks []token, open int) ([]string, int, error) {
	var labels []string
	expectName := true
	for j := open + 1; j < len(toks); j++ {
		t := toks[j]
		switch {
		case t.text == "}":
			return labels, j, nil
		case t.text == ",":
			expectName = true
		case expectName && t.kind == tokIdent:
			labels = append(labels, t.text)
			expectName = false
		case !expectName && (t.kind == tokString || t.kind == tokOther):
			// the operator and the quoted value
		default:
			return nil, 0, fmt.Errorf("unexpected %q in a label selector", t.text)
		}
	}
	return nil, 0, fmt.Errorf("unterminated label selector")
}

func TestCheckExprCatchesMistakes(t *testing.T) {
	good := []string{
		`sum by (result) (rate(callback_guard_requests_total{provider=~"$provider"}[$__rate_interval]))`,
		`histogram_quantile(0.99, sum by (provider, le) (rate(callback_guard_upstream_duration_seconds_bucket{provider=~"${provider}"}[5m])))`,
		`rate(callback_guard_request_duration_seconds_sum[5m]) / rate(callback_guard_request_duration_seconds_count[5m])`,
		`sum(rate(callback_guard_store_errors_total{store="redis"}[5m])) > 0 and on() vector(1)`,
		`callback_guard_requests_total{result!~"rejected|on|by (instance)"} offset 1h`,
	}
	for _, e := range good {
		if _, err := checkExpr(e); err != nil {
			t.Errorf("checkExpr(%s) = %v, want no error", e, err)
		}
	}
	bad := []string{
		`up == 0`,                                                                       // no callback_guard metric
		`rate(callback_guard_request_total[5m])`,                                        // misspelt
		`rate(callback_guard_requests_total_count[5m])`,                                 // not a histogram
		`rate(callback_guard_requests_total[5m]) / up`,                                  // another metric
		`sum by (instance) (rate(callback_guard_requests_total[5m]))`,                   // unknown label
		`rate(callback_guard_store_errors_total{provider="glopal"}[5m])`,                // label of another metric
		`rate(callback_guard_request_duration_seconds_bucket{le="1", job="caddy"}[5m])`, // unknown label
		`callback_guard_requests_total / ignoring(result) group_left(instance) callback_guard_requests_total`,
		`histogram_quantile(0.5, rate(callback_guard_request_duration_seconds[5m]))`, // histogram without suffix
	}
	for _, e := range bad {
		if _, err := checkExpr(e); err == nil {
			t.Errorf("checkExpr(%s) passed, want an error", e)
		}
	}
}

// dashboard is the part of the Grafana dashboard model the checks read.
type dashboard struct {
	SchemaVersion int     `json:"schemaVersion"`
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Multi      bool            `json:"multi"`
			IncludeAll bool            `json:"includeAll"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	Panels     []panel        `json:"panels"` // a collapsed row's panels
	Targets    []struct {
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
}

func flattenPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flattenPanels(p.Panels)...)
	}
	return out
}

func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want ≥ 39", d.SchemaVersion)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both must be set", d.UID, d.Title)
	}
	if id, ok := raw["id"]; ok && id != nil {
		t.Errorf("id is %v, want null so that the import creates the dashboard", id)
	}

	// Template variables.
	vars := map[string]int{}
	for i, v := range d.Templating.List {
		vars[v.Name] = i
	}
	if i, ok := vars["datasource"]; !ok {
		t.Error("no datasource template variable")
	} else if v := d.Templating.List[i]; v.Type != "datasource" || string(v.Query) != `"prometheus"` {
		t.Errorf("datasource variable: type %q, query %s; want a datasource variable of type prometheus", v.Type, v.Query)
	}
	if i, ok := vars["provider"]; !ok {
		t.Error("no provider template variable")
	} else {
		v := d.Templating.List[i]
		// The query is a string (older Grafana) or an object with a query field.
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Errorf("provider variable query %s: %v", v.Query, err)
			}
			q = obj.Query
		}
		const want = "label_values(callback_guard_requests_total, provider)"
		if v.Type != "query" || q != want || !v.Multi {
			t.Errorf("provider variable: type %q, query %q, multi %v; want a multi-value query variable %q", v.Type, q, v.Multi, want)
		}
		if v.Definition != "" && v.Definition != want {
			t.Errorf("provider variable definition %q, want %q", v.Definition, want)
		}
		if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("provider variable datasource %+v, want uid ${datasource}", v.Datasource)
		}
	}

	// Panels and their queries.
	used := map[string]bool{}
	ids := map[int]string{}
	nexpr := 0
	for _, p := range flattenPanels(d.Panels) {
		if p.Type == "row" {
			continue
		}
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want prometheus ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		for _, tg := range p.Targets {
			nexpr++
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s: datasource %+v, want ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
			metrics, err := checkExpr(tg.Expr)
			if err != nil {
				t.Errorf("panel %q target %s: %v\n\t%s", p.Title, tg.RefID, err, tg.Expr)
			}
			for _, m := range metrics {
				used[m] = true
			}
			if strings.Contains(tg.Expr, "histogram_quantile") &&
				(!strings.Contains(tg.Expr, "_bucket") || !strings.Contains(tg.Expr, "le)")) {
				t.Errorf("panel %q target %s: histogram_quantile must aggregate _bucket rates by le\n\t%s", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
	if nexpr == 0 {
		t.Fatal("the dashboard has no queries")
	}
	for m := range metricLabels {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// ruleFile is the Prometheus rule file format.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleTestFile is the promtool test rules format.
type ruleTestFile struct {
	RuleFiles          []string `yaml:"rule_files"`
	EvaluationInterval string   `yaml:"evaluation_interval"`
	GroupEvalOrder     []string `yaml:"group_eval_order"`
	Tests              []struct {
		Name           string            `yaml:"name"`
		Interval       string            `yaml:"interval"`
		ExternalLabels map[string]string `yaml:"external_labels"`
		ExternalURL    string            `yaml:"external_url"`
		PromQLExprTest []any             `yaml:"promql_expr_test"`
		InputSeries    []struct {
			Series string `yaml:"series"`
			Values string `yaml:"values"`
		} `yaml:"input_series"`
		AlertRuleTests []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestPrometheusRules(t *testing.T) {
	var rf ruleFile
	readYAML(t, filepath.Join(promDir, rulesFile), &rf)
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			if _, err := checkExpr(r.Expr); err != nil {
				t.Errorf("rule %s: %v\n\t%s", name, err, r.Expr)
			}
			if strings.Contains(r.Expr, "$") {
				t.Errorf("rule %s: the expression holds a Grafana variable", name)
			}
			if r.Alert == "" {
				continue
			}
			if alerts[r.Alert] {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			alerts[r.Alert] = true
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s has no %s annotation", r.Alert, a)
				}
			}
		}
	}
	for _, want := range []string{
		"CallbackGuardVerifyFailureSpike", "CallbackGuardStoreErrors",
		"CallbackGuardTimeouts", "CallbackGuardUpstreamErrors",
	} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}

	// The unit tests feed only the module's series and cover every alert
	// both firing and not firing.
	var tf ruleTestFile
	readYAML(t, filepath.Join(promDir, rulesTestFile), &tf)
	if !slices.Contains(tf.RuleFiles, rulesFile) {
		t.Errorf("%s: rule_files %v, want %s", rulesTestFile, tf.RuleFiles, rulesFile)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, s := range tc.InputSeries {
			if _, err := checkExpr(s.Series); err != nil {
				t.Errorf("%s: input series %s: %v", rulesTestFile, s.Series, err)
			}
		}
		for _, a := range tc.AlertRuleTests {
			if !alerts[a.Alertname] {
				t.Errorf("%s: tests unknown alert %s", rulesTestFile, a.Alertname)
			}
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for a := range alerts {
		if !fires[a] || !quiet[a] {
			t.Errorf("%s: alert %s: tested firing %v, not firing %v; want both", rulesTestFile, a, fires[a], quiet[a])
		}
	}
}

func TestPrometheusConfig(t *testing.T) {
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	data, err := os.ReadFile(filepath.Join(promDir, promConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", promConfig, err)
	}
	if !slices.Contains(cfg.RuleFiles, rulesFile) {
		t.Errorf("rule_files %v, want %s", cfg.RuleFiles, rulesFile)
	}
	found := false
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "caddy" {
			continue
		}
		found = true
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job caddy: metrics_path %q, want /metrics", sc.MetricsPath)
		}
		if len(sc.StaticConfigs) == 0 || !slices.Contains(sc.StaticConfigs[0].Targets, "localhost:2019") {
			t.Errorf("job caddy: static_configs %+v, want target localhost:2019", sc.StaticConfigs)
		}
	}
	if !found {
		t.Error("no scrape config with job_name caddy")
	}
}

// TestPromtool runs promtool on the Prometheus examples when it is installed
// (Debian and Ubuntu: apt-get install prometheus).
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH; install Prometheus (Debian: apt-get install prometheus) to check the config and run the rule tests")
	}
	if out, err := exec.Command(promtool, "--version").CombinedOutput(); err == nil {
		t.Logf("%s", bytes.SplitN(out, []byte("\n"), 2)[0])
	}
	for _, args := range [][]string{
		{"check", "config", promConfig}, // also checks the rule_files it names
		{"check", "rules", rulesFile},
		{"test", "rules", rulesTestFile},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			cmd := exec.Command(promtool, args...)
			cmd.Dir = promDir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}
