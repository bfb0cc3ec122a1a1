package deploy

import (
	"maps"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestWeaviateModeIsAStatelessDeploymentWithAnHPA builds k8s-weaviate: the embedded
// base's StatefulSet is gone, a Deployment runs miner-server -backend weaviate without
// a data volume, the HPA scales it, the disruption budget allows one pod at a time and
// the NetworkPolicy lets the miners reach Weaviate.
func TestWeaviateModeIsAStatelessDeploymentWithAnHPA(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), "k8s-weaviate")
	if err != nil {
		t.Fatalf("kustomize build k8s-weaviate: %v", err)
	}
	var dep *appsv1.Deployment
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	var netpol *networkingv1.NetworkPolicy
	var pdb *policyv1.PodDisruptionBudget
	for _, r := range rm.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		var target any
		switch r.GetKind() {
		case "StatefulSet":
			t.Errorf("StatefulSet %s is still in the Weaviate mode", r.GetName())
			continue
		case "Deployment":
			dep = &appsv1.Deployment{}
			target = dep
		case "HorizontalPodAutoscaler":
			hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			target = hpa
		case "NetworkPolicy":
			netpol = &networkingv1.NetworkPolicy{}
			target = netpol
		case "PodDisruptionBudget":
			pdb = &policyv1.PodDisruptionBudget{}
			target = pdb
		default:
			continue
		}
		if err := strict(doc, target); err != nil {
			t.Errorf("%s/%s does not decode strictly: %v", r.GetKind(), r.GetName(), err)
		}
	}
	if dep == nil || hpa == nil || netpol == nil || pdb == nil {
		t.Fatalf("missing resources: deployment %v, hpa %v, netpol %v, pdb %v", dep != nil, hpa != nil, netpol != nil, pdb != nil)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if flagValue(c.Args, "-backend") != "weaviate" || flagValue(c.Args, "-weaviate-addr") == "" || flagValue(c.Args, "-weaviate-grpc-addr") == "" {
		t.Errorf("args %v: want -backend=weaviate with both Weaviate addresses", c.Args)
	}
	if len(c.VolumeMounts) != 2 || flagValue(c.Args, "-data-dir") != "" {
		t.Errorf("a stateless miner mounts only its TLS and token secrets: %v, args %v", c.VolumeMounts, c.Args)
	}
	minerID := false
	for _, e := range c.Env {
		minerID = minerID || (e.Name == "HARDNEG_MINER_ID" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name")
	}
	if !minerID || flagValue(c.Args, "-miner-id") != "" {
		t.Errorf("env %v, args %v: want HARDNEG_MINER_ID from the pod name (the loop state of each miner is saved under it)", c.Env, c.Args)
	}
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != dep.Name || hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
		t.Errorf("HPA %+v does not scale the Deployment from at least 2 replicas", hpa.Spec)
	}
	if pdb.Spec.MinAvailable != nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB %+v: want maxUnavailable 1 and no minAvailable", pdb.Spec)
	}
	// Both addresses name a Service in Weaviate's namespace; the NetworkPolicy must let
	// the miners reach the chart's pods (app: weaviate) there, on the pods' REST and
	// gRPC ports.
	for _, flag := range []string{"-weaviate-addr", "-weaviate-grpc-addr"} {
		host, _, _ := strings.Cut(flagValue(c.Args, flag), ":")
		parts := strings.Split(host, ".") // service.namespace.svc
		if len(parts) < 3 || parts[2] != "svc" {
			t.Errorf("%s %q: want service.namespace.svc:port", flag, flagValue(c.Args, flag))
			continue
		}
		if !egressTo(netpol, parts[1], map[string]string{"app": "weaviate"}, 8080, 50051) {
			t.Errorf("%s points into namespace %q, but the NetworkPolicy allows no egress to app=weaviate pods there on ports 8080 and 50051: %+v", flag, parts[1], netpol.Spec.Egress)
		}
	}
}

// egressTo reports whether one egress rule of np lets pods reach pods labelled labels
// in namespace ns on every one of ports.
func egressTo(np *networkingv1.NetworkPolicy, ns string, labels map[string]string, ports ...int) bool {
	for _, rule := range np.Spec.Egress {
		peer := false
		for _, to := range rule.To {
			inNS := to.NamespaceSelector != nil && to.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == ns && len(to.NamespaceSelector.MatchExpressions) == 0
			pods := to.PodSelector != nil && len(to.PodSelector.MatchExpressions) == 0 && maps.Equal(to.PodSelector.MatchLabels, labels)
			peer = peer || (inNS && pods)
		}
		if !peer {
			continue
		}
		open := 0
		for _, want := range ports {
			for _, p := range rule.Ports {
				if p.Port != nil && p.Port.IntValue() == want {
					open++
					break
				}
			}
		}
		if open == len(ports) {
			return true
		}
	}
	return false
}
