package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

const dashboardFile = "k8s/grafana/hardneg-dashboard.json"

// grafanaIntervals are the interval variables Grafana fills in before it sends a
// query; a range selector or subquery holds them where PromQL expects a duration.
var grafanaIntervals = regexp.MustCompile(`\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}`)

// dashboardQuery is one PromQL expression of the dashboard and where it is.
type dashboardQuery struct {
	where string
	expr  string
}

// dashboardQueries returns every panel query of the dashboard (rows' nested panels
// included) and the dashboard's template variables with their definitions.
func dashboardQueries(t *testing.T, raw []byte) (queries []dashboardQuery, vars map[string]string) {
	t.Helper()
	var d struct {
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	vars = map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Definition
	}
	type panel struct {
		Title   string            `json:"title"`
		Panels  []json.RawMessage `json:"panels"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	}
	var walk func(raws []json.RawMessage)
	walk = func(raws []json.RawMessage) {
		for _, r := range raws {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: panel: %v", dashboardFile, err)
			}
			for _, tg := range p.Targets {
				queries = append(queries, dashboardQuery{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return queries, vars
}

// parseDashboardExpr parses a panel query as Prometheus would receive it from
// Grafana: interval variables become a duration. Other variables are left as they
// are, so one used outside a label matcher's string is a parse error.
func parseDashboardExpr(expr string) (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(grafanaIntervals.ReplaceAllString(expr, "5m"))
}

// checkSelectors reports every vector selector of e that does not select the hardneg
// job in the namespaces and instances chosen on the dashboard, and every variable a
// matcher names that the dashboard does not define.
func checkSelectors(e parser.Expr, vars map[string]string) []string {
	var problems []string
	want := map[string]string{"job": "hardneg", "namespace": "$namespace", "instance": "$instance"}
	varRef := regexp.MustCompile(`\$\{?(\w+)`)
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for name, value := range want {
			i := slices.IndexFunc(vs.LabelMatchers, func(m *labels.Matcher) bool { return m.Name == name })
			if i < 0 || vs.LabelMatchers[i].Value != value {
				problems = append(problems, fmt.Sprintf("selector %s lacks %s matching %q", vs, name, value))
			}
		}
		for _, m := range vs.LabelMatchers {
			for _, ref := range varRef.FindAllStringSubmatch(m.Value, -1) {
				if _, ok := vars[ref[1]]; !ok {
					problems = append(problems, fmt.Sprintf("selector %s names undefined variable $%s", vs, ref[1]))
				}
			}
		}
		return nil
	})
	return problems
}

func TestDashboardQueriesParse(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	queries, vars := dashboardQueries(t, raw)
	if len(queries) == 0 {
		t.Fatal("dashboard has no queries")
	}
	for _, q := range queries {
		if strings.TrimSpace(q.expr) == "" {
			t.Errorf("%s: empty query", q.where)
			continue
		}
		e, err := parseDashboardExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %v\n  %s", q.where, err, q.expr)
			continue
		}
		for _, p := range checkSelectors(e, vars) {
			t.Errorf("%s: %s", q.where, p)
		}
	}
	t.Logf("%d panel queries parsed", len(queries))

	// The query variables' label_values(selector, label) name a parsable selector.
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	for name, def := range vars {
		if !strings.HasPrefix(def, "label_values") {
			continue
		}
		m := labelValues.FindStringSubmatch(def)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(selector, label)", name, def)
			continue
		}
		if _, err := parser.NewParser(parser.Options{}).ParseMetricSelector(m[1]); err != nil {
			t.Errorf("variable %s: selector %s: %v", name, m[1], err)
		}
	}
}

// The check fails on the mistakes it exists for.
func TestDashboardQueryCheckRejectsBrokenQueries(t *testing.T) {
	vars := map[string]string{"namespace": "", "instance": ""}
	sel := `{job="hardneg", namespace=~"$namespace", instance=~"$instance"}`
	for _, tc := range []struct{ name, expr string }{
		{"unbalanced", `sum(rate(hardneg_mine_anchors_total` + sel + `[$__rate_interval])`},
		{"unknown_function", `summ(rate(hardneg_mine_anchors_total` + sel + `[$__rate_interval]))`},
		{"rate_of_instant_vector", `rate(hardneg_mine_anchors_total` + sel + `)`},
		{"variable_outside_a_string", `rate(hardneg_mine_anchors_total` + sel + `[$window])`},
		{"histogram_quantile_without_phi", `histogram_quantile(sum by (le) (rate(hardneg_snapshot_duration_seconds_bucket` + sel + `[$__rate_interval])))`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseDashboardExpr(tc.expr); err == nil {
				t.Errorf("%s parsed", tc.expr)
			}
		})
	}
	for _, tc := range []struct{ name, expr string }{
		{"no_job", `up{namespace=~"$namespace", instance=~"$instance"}`},
		{"other_job", `up{job="node", namespace=~"$namespace", instance=~"$instance"}`},
		{"no_instance", `up{job="hardneg", namespace=~"$namespace"}`},
		{"undefined_variable", `up{job="hardneg", namespace=~"$namespace", instance=~"$instance", pod=~"$pod"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := parseDashboardExpr(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if len(checkSelectors(e, vars)) == 0 {
				t.Errorf("%s passed the selector check", tc.expr)
			}
		})
	}
}
