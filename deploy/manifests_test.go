package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite k8s/prometheusrule.yaml from prometheus/rules.yaml")

// built is the kustomize output, decoded.
type built struct {
	sts       *appsv1.StatefulSet
	services  map[string]*corev1.Service
	netpol    *networkingv1.NetworkPolicy
	monitor   *monitoringv1.ServiceMonitor
	rule      *monitoringv1.PrometheusRule
	dashboard *corev1.ConfigMap
	sa        *corev1.ServiceAccount
	pdb       *policyv1.PodDisruptionBudget
}

// strict decodes a YAML or JSON document into out, failing on unknown or duplicate
// fields.
func strict(doc []byte, out any) error {
	return yaml.UnmarshalStrict(doc, out)
}

func build(t *testing.T) *built {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), "k8s")
	if err != nil {
		t.Fatalf("kustomize build k8s: %v", err)
	}
	b := &built{services: map[string]*corev1.Service{}}
	for _, r := range rm.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		kind, name := r.GetKind(), r.GetName()
		var target any
		switch kind {
		case "StatefulSet":
			b.sts = &appsv1.StatefulSet{}
			target = b.sts
		case "Service":
			s := &corev1.Service{}
			b.services[name] = s
			target = s
		case "NetworkPolicy":
			b.netpol = &networkingv1.NetworkPolicy{}
			target = b.netpol
		case "ServiceMonitor":
			b.monitor = &monitoringv1.ServiceMonitor{}
			target = b.monitor
		case "PrometheusRule":
			b.rule = &monitoringv1.PrometheusRule{}
			target = b.rule
		case "ConfigMap":
			b.dashboard = &corev1.ConfigMap{}
			target = b.dashboard
		case "ServiceAccount":
			b.sa = &corev1.ServiceAccount{}
			target = b.sa
		case "PodDisruptionBudget":
			b.pdb = &policyv1.PodDisruptionBudget{}
			target = b.pdb
		default:
			t.Fatalf("unexpected kind %s/%s: add it to this test", kind, name)
		}
		if err := strict(doc, target); err != nil {
			t.Errorf("%s/%s does not decode strictly: %v", kind, name, err)
		}
	}
	if b.sts == nil || b.netpol == nil || b.monitor == nil || b.rule == nil || b.dashboard == nil || b.sa == nil || b.pdb == nil || len(b.services) != 2 {
		t.Fatalf("kustomize output is missing resources: %+v", b)
	}
	return b
}

func TestEveryManifestFileIsInTheKustomization(t *testing.T) {
	var k struct {
		Resources []string `json:"resources"`
	}
	raw, err := os.ReadFile("k8s/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("k8s")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" && !slices.Contains(k.Resources, e.Name()) {
			t.Errorf("k8s/%s is not listed in kustomization.yaml", e.Name())
		}
	}
}

func TestStatefulSetRunsAsNonRootWithPersistentData(t *testing.T) {
	b := build(t)
	sts := b.sts
	pod := sts.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if sc := pod.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("pod does not run as non-root 65532: %+v", pod.SecurityContext)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context too loose: %+v", c.SecurityContext)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("want one volume claim template")
	}
	claim := sts.Spec.VolumeClaimTemplates[0].Name
	dataDir := flagValue(c.Args, "-data-dir")
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.Name == claim && m.MountPath == dataDir {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("claim %q is not mounted at -data-dir %q", claim, dataDir)
	}
	if sts.Spec.ServiceName != "hardneg-headless" || b.services["hardneg-headless"] == nil {
		t.Errorf("serviceName %q is not the headless Service", sts.Spec.ServiceName)
	}
	if !selects(sts.Spec.Selector.MatchLabels, sts.Spec.Template.Labels) {
		t.Errorf("StatefulSet selector %v does not match its pod labels %v", sts.Spec.Selector.MatchLabels, sts.Spec.Template.Labels)
	}
	// Every mounted Secret path feeds a flag.
	for _, f := range []string{"-tls-cert-file", "-tls-key-file", "-auth-token-file"} {
		v := flagValue(c.Args, f)
		ok := false
		for _, m := range c.VolumeMounts {
			if v != "" && strings.HasPrefix(v, m.MountPath+"/") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s=%q is not under a mounted volume", f, v)
		}
	}
}

func TestProbesUseTheGRPCHealthPort(t *testing.T) {
	b := build(t)
	c := b.sts.Spec.Template.Spec.Containers[0]
	port := portOf(t, flagValue(c.Args, "-health-grpc-addr"))
	if cp := containerPort(c, "grpc-health"); cp != port {
		t.Errorf("container port grpc-health = %d, -health-grpc-addr port %d", cp, port)
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.GRPC == nil {
			t.Errorf("%s probe is not a gRPC probe", name)
			continue
		}
		if p.GRPC.Port != port {
			t.Errorf("%s probe port %d, health port %d", name, p.GRPC.Port, port)
		}
	}
	if s := c.ReadinessProbe.GRPC.Service; s == nil || *s != "hardneg.v1.MinerService" {
		t.Errorf("readiness probe does not ask for the MinerService status")
	}
}

func TestServicesAndMonitorMatchThePods(t *testing.T) {
	b := build(t)
	c := b.sts.Spec.Template.Spec.Containers[0]
	podLabels := b.sts.Spec.Template.Labels
	if portOf(t, flagValue(c.Args, "-grpc-addr")) != containerPort(c, "grpc") || portOf(t, flagValue(c.Args, "-http-addr")) != containerPort(c, "http-metrics") {
		t.Errorf("container ports do not match the listen flags")
	}
	for name, s := range b.services {
		if !selects(s.Spec.Selector, podLabels) {
			t.Errorf("Service %s selects %v, pods have %v", name, s.Spec.Selector, podLabels)
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.Type != intstr.String || containerPort(c, p.TargetPort.StrVal) == 0 {
				t.Errorf("Service %s port %s targets %v, not a named container port", name, p.Name, p.TargetPort)
			}
		}
	}
	if b.services["hardneg-headless"].Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("hardneg-headless is not headless")
	}
	// The ServiceMonitor scrapes a named port of a Service it selects.
	var scraped *corev1.Service
	for _, s := range b.services {
		if selects(b.monitor.Spec.Selector.MatchLabels, s.Labels) {
			for _, p := range s.Spec.Ports {
				if len(b.monitor.Spec.Endpoints) == 1 && p.Name == b.monitor.Spec.Endpoints[0].Port {
					scraped = s
				}
			}
		}
	}
	if scraped == nil {
		t.Fatalf("ServiceMonitor selects no Service with port %q", b.monitor.Spec.Endpoints[0].Port)
	}
	// Its job label is "hardneg", which the alerts and dashboard select on.
	if got := scraped.Labels[b.monitor.Spec.JobLabel]; got != "hardneg" {
		t.Errorf("job label value = %q, want hardneg", got)
	}
	// The NetworkPolicy covers the pods and admits the gRPC and metrics ports.
	if !selects(b.netpol.Spec.PodSelector.MatchLabels, podLabels) {
		t.Errorf("NetworkPolicy does not select the pods")
	}
	admitted := map[string]bool{}
	for _, in := range b.netpol.Spec.Ingress {
		for _, p := range in.Ports {
			admitted[p.Port.String()] = true
		}
	}
	for _, p := range []string{"grpc", "http-metrics"} {
		if !admitted[p] {
			t.Errorf("NetworkPolicy does not admit port %s", p)
		}
	}
}

func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	raw, err := os.ReadFile("prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec monitoringv1.PrometheusRuleSpec
	if err := strict(raw, &spec); err != nil {
		t.Fatalf("prometheus/rules.yaml: %v", err)
	}
	if *update {
		rule := monitoringv1.PrometheusRule{Spec: spec}
		rule.APIVersion, rule.Kind, rule.Name = "monitoring.coreos.com/v1", "PrometheusRule", "hardneg"
		out, err := yaml.Marshal(rule)
		if err != nil {
			t.Fatal(err)
		}
		out = bytes.Replace(out, []byte("  creationTimestamp: null\n"), nil, 1)
		header := "# Generated from deploy/prometheus/rules.yaml by `make deploy-update`; edit that file instead.\n"
		if err := os.WriteFile("k8s/prometheusrule.yaml", append([]byte(header), out...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := build(t)
	if !reflect.DeepEqual(b.rule.Spec, spec) {
		got, _ := json.MarshalIndent(b.rule.Spec, "", " ")
		want, _ := json.MarshalIndent(spec, "", " ")
		t.Errorf("k8s/prometheusrule.yaml differs from prometheus/rules.yaml; run make deploy-update\n got %s\nwant %s", got, want)
	}
	anchors := markdownAnchors(t, "../docs/OPERATIONS.md")
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && (r.Labels["severity"] == "" || r.Annotations["runbook_url"] == "" || r.Annotations["summary"] == "") {
				t.Errorf("alert %s lacks severity, summary or runbook_url", r.Alert)
			}
			if u := r.Annotations["runbook_url"]; u != "" {
				_, anchor, _ := strings.Cut(u, "docs/OPERATIONS.md#")
				if !anchors[anchor] {
					t.Errorf("alert %s: runbook_url %s names no heading of docs/OPERATIONS.md", r.Alert, u)
				}
			}
		}
	}
}

// markdownAnchors returns the anchors GitHub gives the headings of a markdown file:
// lower case, punctuation other than '-' and '_' dropped, spaces as '-'.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}

func TestDashboardIsValidJSONWithQueries(t *testing.T) {
	b := build(t)
	raw := b.dashboard.Data["hardneg-dashboard.json"]
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatal("dashboard has no uid or panels")
	}
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") {
				t.Errorf("panel %q: unbalanced parentheses in %s", p.Title, tg.Expr)
			}
		}
	}
	if b.dashboard.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap lacks the grafana_dashboard label the Grafana sidecar looks for")
	}
}

func TestPodDisruptionBudgetKeepsTheReplica(t *testing.T) {
	b := build(t)
	spec := b.pdb.Spec
	if !selects(spec.Selector.MatchLabels, b.sts.Spec.Template.Labels) {
		t.Errorf("PodDisruptionBudget selects %v, pods have %v", spec.Selector.MatchLabels, b.sts.Spec.Template.Labels)
	}
	if spec.MinAvailable == nil || spec.MinAvailable.IntValue() != int(*b.sts.Spec.Replicas) {
		t.Errorf("minAvailable = %v, want every one of the %d replicas", spec.MinAvailable, *b.sts.Spec.Replicas)
	}
	if p := spec.UnhealthyPodEvictionPolicy; p == nil || *p != policyv1.AlwaysAllow {
		t.Errorf("unhealthyPodEvictionPolicy = %v: a crash-looping pod would block drains", p)
	}
}

func TestGoMemoryLimitIsBelowTheContainerLimit(t *testing.T) {
	b := build(t)
	c := b.sts.Spec.Template.Spec.Containers[0]
	limit := c.Resources.Limits.Memory()
	var gomem string
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			if e.ValueFrom != nil {
				t.Fatalf("GOMEMLIMIT comes from %v: the whole limit leaves the runtime no headroom", e.ValueFrom)
			}
			gomem = e.Value
		}
	}
	// GOMEMLIMIT takes B, KiB, MiB, GiB or TiB; a Kubernetes quantity spells them
	// without the B.
	q, err := resource.ParseQuantity(strings.TrimSuffix(gomem, "B"))
	if err != nil || limit.IsZero() {
		t.Fatalf("GOMEMLIMIT %q (%v), memory limit %v", gomem, err, limit)
	}
	ratio := float64(q.Value()) / float64(limit.Value())
	if ratio < 0.8 || ratio > 0.9 {
		t.Errorf("GOMEMLIMIT %s is %.1f%% of the memory limit %s; want 80–90%%", gomem, 100*ratio, limit)
	}
}

func TestImageTagIsAFixedRelease(t *testing.T) {
	b := build(t)
	img := b.sts.Spec.Template.Spec.Containers[0].Image
	name, tag, ok := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
	if !ok || tag == "" || tag == "latest" || name == "" {
		t.Errorf("image %q: want an explicit release tag, not latest", img)
	}
}

func TestExitsLeaveATerminationMessage(t *testing.T) {
	b := build(t)
	if p := b.sts.Spec.Template.Spec.Containers[0].TerminationMessagePolicy; p != corev1.TerminationMessageFallbackToLogsOnError {
		t.Errorf("terminationMessagePolicy = %q: a crash loop would not show its cause in kubectl describe pod", p)
	}
}

func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	var p int32
	if _, err := fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &p); err != nil {
		t.Fatalf("address %q has no port", addr)
	}
	return p
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// selects reports whether every selector label is among labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
