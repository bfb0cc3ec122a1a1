package deploy

import (
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
	if len(netpol.Spec.Egress) == 0 {
		t.Error("NetworkPolicy allows no egress: the miners cannot reach Weaviate")
	}
}
