// Package validate renders deploy/kubernetes as `kubectl apply -k` would (kustomize's own
// library) and decodes every object strictly into the Kubernetes API types, so a misspelt or
// misplaced field, a wrong type or a selector that matches nothing fails here rather than at
// the cluster. It is a module of its own so that staxkeys' module does not carry the Kubernetes
// libraries; .ci/run runs it: (cd deploy/kubernetes/validate && go test ./...).
package validate

import (
	"os"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestKustomizeBuild: the kustomization renders; each object decodes strictly; the
// Deployment's selector matches its pods and the Service's selects them; every probe and the
// Service target a port the container declares; every volume mount names a volume; the secret
// template decodes as a Secret holding the key the Deployment reads.
func TestKustomizeBuild(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), "..")
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	var dep *appsv1.Deployment
	var svc *corev1.Service
	kinds := map[string]int{}
	for _, r := range res.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		kind := r.GetKind()
		kinds[kind]++
		var obj any
		switch kind {
		case "Deployment":
			dep = &appsv1.Deployment{}
			obj = dep
		case "Service":
			svc = &corev1.Service{}
			obj = svc
		case "PersistentVolumeClaim":
			obj = &corev1.PersistentVolumeClaim{}
		case "ConfigMap":
			obj = &corev1.ConfigMap{}
		default:
			t.Errorf("unexpected kind %s", kind)
			continue
		}
		if err := decodeStrict(b, obj); err != nil {
			t.Errorf("%s %s: %v", kind, r.GetName(), err)
		}
		if r.GetLabels()["app.kubernetes.io/name"] != "staxkeys" {
			t.Errorf("%s %s lacks the app label", kind, r.GetName())
		}
	}
	for _, kind := range []string{"Deployment", "Service", "PersistentVolumeClaim", "ConfigMap"} {
		if kinds[kind] != 1 {
			t.Errorf("%d objects of kind %s, want 1", kinds[kind], kind)
		}
	}
	if dep == nil || svc == nil {
		t.Fatal("no Deployment or Service")
	}
	pod := dep.Spec.Template
	sel, err := metav1LabelSelector(dep)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("the Deployment's selector %v does not match its pods %v: %v", dep.Spec.Selector, pod.Labels, err)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("the Service's selector %v does not match the pods %v", svc.Spec.Selector, pod.Labels)
	}
	vols := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = true
	}
	var app *corev1.Container
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := &list[i]
			if c.Name == "staxkeys" {
				app = c
			}
			for _, m := range c.VolumeMounts {
				if !vols[m.Name] {
					t.Errorf("container %s mounts %s, which is not a volume", c.Name, m.Name)
				}
			}
		}
	}
	if app == nil {
		t.Fatal("no staxkeys container")
	}
	ports := map[string]bool{}
	for _, p := range app.Ports {
		ports[p.Name] = true
	}
	for name, p := range map[string]*corev1.Probe{"startup": app.StartupProbe, "liveness": app.LivenessProbe, "readiness": app.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || !ports[p.HTTPGet.Port.String()] {
			t.Errorf("%s probe %+v does not target a declared port", name, p)
		}
	}
	for _, sp := range svc.Spec.Ports {
		if !ports[sp.TargetPort.String()] {
			t.Errorf("the Service targets port %s, which the container does not declare", sp.TargetPort.String())
		}
	}

	// Pod Security Standards: the pod passes the "restricted" profile, as the admission
	// controller of a namespace labelled pod-security.kubernetes.io/enforce=restricted judges it.
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	verdict := policy.AggregateCheckResults(ev.EvaluatePod(
		psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &pod.ObjectMeta, &pod.Spec))
	if !verdict.Allowed {
		t.Errorf("the pod breaks the restricted Pod Security Standard: %s: %s", verdict.ForbiddenReason(), verdict.ForbiddenDetail())
	}

	b, err := os.ReadFile("../secret.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var master *corev1.Secret
	for _, doc := range splitDocs(b) {
		var s corev1.Secret
		if err := decodeStrict(doc, &s); err != nil {
			t.Errorf("secret.yaml: %v", err)
		}
		if s.Name == "staxkeys" {
			master = &s
		}
	}
	for _, e := range app.Env {
		if e.Name == "STAXKEYS_MASTER_KEY" {
			ref := e.ValueFrom.SecretKeyRef
			if master == nil || ref == nil || ref.Name != master.Name || master.StringData[ref.Key] == "" {
				t.Errorf("STAXKEYS_MASTER_KEY reads %+v, which secret.yaml does not define", ref)
			}
		}
	}
}
