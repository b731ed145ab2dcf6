package check

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	overlay     = "../kubernetes/overlays/three-zones"
	zoneLabel   = "zonecache.io/zone"
	k8sZoneKey  = "topology.kubernetes.io/zone"
	tokenFile   = "/run/zonecache/admin-token"
	gossipKey   = "/run/zonecache/gossip-key"
	serviceName = "zonecached"
)

// rendered is the overlay's output, each object decoded strictly.
type rendered struct {
	sets     []appsv1.StatefulSet
	services []corev1.Service
	pdbs     []policyv1.PodDisruptionBudget
}

// render builds the overlay with kustomize, as `kubectl apply -k` does,
// and decodes every object into its API type, refusing unknown fields.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var r rendered
	for _, node := range res.Resources() {
		b, err := node.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		kind := node.GetKind()
		var dst any
		switch kind {
		case "StatefulSet":
			r.sets = append(r.sets, appsv1.StatefulSet{})
			dst = &r.sets[len(r.sets)-1]
		case "Service":
			r.services = append(r.services, corev1.Service{})
			dst = &r.services[len(r.services)-1]
		case "PodDisruptionBudget":
			r.pdbs = append(r.pdbs, policyv1.PodDisruptionBudget{})
			dst = &r.pdbs[len(r.pdbs)-1]
		default:
			t.Fatalf("%s: unexpected kind %s", node.GetName(), kind)
		}
		if err := yaml.UnmarshalStrict(b, dst); err != nil {
			t.Fatalf("%s %s does not decode strictly: %v", kind, node.GetName(), err)
		}
	}
	return r
}

// TestManifestFilesDecodeStrictly decodes every Kubernetes object file of
// the base by itself (kustomize tolerates some mistakes a file may hold).
func TestManifestFilesDecodeStrictly(t *testing.T) {
	files := map[string]any{
		"../kubernetes/base/service.yaml":          &corev1.Service{},
		"../kubernetes/base/pdb.yaml":              &policyv1.PodDisruptionBudget{},
		"../kubernetes/base/zone/statefulset.yaml": &appsv1.StatefulSet{},
	}
	for path, dst := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, dst); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	// Every manifest file is checked: none was added without a decoder above.
	err := filepath.WalkDir("../kubernetes", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "kustomization.yaml" {
			return err
		}
		if _, ok := files[filepath.ToSlash(path)]; !ok {
			t.Errorf("%s: not decoded by this test", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOverlayOneStatefulSetPerZone renders the three-zone overlay: three
// StatefulSets, each selecting only its own zone's pods, pinned to a
// Kubernetes zone of its own, and telling its nodes their zone.
func TestOverlayOneStatefulSetPerZone(t *testing.T) {
	r := render(t, overlay)
	if len(r.sets) != 3 {
		t.Fatalf("%d StatefulSets, want 3", len(r.sets))
	}
	zones, k8sZones := map[string]bool{}, map[string]bool{}
	for _, s := range r.sets {
		zone := s.Spec.Template.Labels[zoneLabel]
		if zone == "" || s.Spec.Selector.MatchLabels[zoneLabel] != zone {
			t.Errorf("%s: pod label %s=%q, selector %v: the selector must hold the zone", s.Name, zoneLabel, zone, s.Spec.Selector.MatchLabels)
		}
		zones[zone] = true
		k8sZones[pinnedZone(t, s)] = true
		if s.Spec.ServiceName != serviceName {
			t.Errorf("%s: serviceName %q, want the headless Service %q", s.Name, s.Spec.ServiceName, serviceName)
		}
		c := container(t, s)
		if env := envFieldPath(c, "ZONE"); env != "metadata.labels['"+zoneLabel+"']" {
			t.Errorf("%s: ZONE from %q, want the pod's zone label", s.Name, env)
		}
	}
	if len(zones) != 3 || len(k8sZones) != 3 {
		t.Errorf("zones %v on Kubernetes zones %v: want 3 distinct of each", zones, k8sZones)
	}
}

// pinnedZone returns the one Kubernetes zone s's pods are required to run in.
func pinnedZone(t *testing.T, s appsv1.StatefulSet) string {
	t.Helper()
	a := s.Spec.Template.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		t.Fatalf("%s: no required node affinity", s.Name)
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 {
		t.Fatalf("%s: want one node selector term with one expression, got %+v", s.Name, terms)
	}
	e := terms[0].MatchExpressions[0]
	if e.Key != k8sZoneKey || e.Operator != corev1.NodeSelectorOpIn || len(e.Values) != 1 || strings.Contains(e.Values[0], "OVERLAY") {
		t.Fatalf("%s: node affinity %+v, want %s In [one zone]", s.Name, e, k8sZoneKey)
	}
	return e.Values[0]
}

func container(t *testing.T, s appsv1.StatefulSet) corev1.Container {
	t.Helper()
	for _, c := range s.Spec.Template.Spec.Containers {
		if c.Name == "zonecached" {
			return c
		}
	}
	t.Fatalf("%s: no zonecached container", s.Name)
	return corev1.Container{}
}

func envFieldPath(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

// arg returns the value of --name (or -name) in args, and whether it is there.
func arg(args []string, name string) (string, bool) {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestPodsJoinAdvertiseAndDrain checks how each pod takes part in the
// fleet: named after the pod, advertising the pod's IP, joining through
// the headless Service, reading the gossip key and admin token from the
// Secret, ready only when serving reads, and draining before it stops.
func TestPodsJoinAdvertiseAndDrain(t *testing.T) {
	r := render(t, overlay)
	for _, s := range r.sets {
		c := container(t, s)
		want := map[string]string{
			"node-name":        "$(POD_NAME)",
			"advertise-addr":   "$(POD_IP)",
			"join":             serviceName + ".$(POD_NAMESPACE).svc.cluster.local:7946",
			"gossip-key-file":  gossipKey,
			"admin-token-file": tokenFile,
			"zone":             "$(ZONE)",
		}
		for name, v := range want {
			if got, _ := arg(c.Args, name); got != v {
				t.Errorf("%s: --%s=%q, want %q", s.Name, name, got, v)
			}
		}
		for env, path := range map[string]string{"POD_NAME": "metadata.name", "POD_IP": "status.podIP", "POD_NAMESPACE": "metadata.namespace"} {
			if got := envFieldPath(c, env); got != path {
				t.Errorf("%s: %s from %q, want %q", s.Name, env, got, path)
			}
		}
		checkProbesAndPreStop(t, s.Name, c)
		checkSecrets(t, s)
		checkNonRoot(t, s)
	}
}

func checkProbesAndPreStop(t *testing.T, name string, c corev1.Container) {
	t.Helper()
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "admin" {
		t.Errorf("%s: readiness probe %+v, want GET /readyz on the admin port", name, p)
	}
	admin, _ := arg(c.Args, "admin-addr")
	if !strings.HasSuffix(admin, ":12211") || !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "admin" && p.ContainerPort == 12211 }) {
		t.Errorf("%s: --admin-addr %q and the admin port disagree", name, admin)
	}
	h := c.Lifecycle
	if h == nil || h.PreStop == nil || h.PreStop.Exec == nil {
		t.Fatalf("%s: no preStop exec hook", name)
	}
	cmd := h.PreStop.Exec.Command
	if len(cmd) < 2 || cmd[0] != "/zonecache" || cmd[1] != "promote" {
		t.Fatalf("%s: preStop %q, want /zonecache promote", name, cmd)
	}
	if to, _ := arg(cmd, "to"); to != "draining" {
		t.Errorf("%s: preStop --to=%q, want draining", name, to)
	}
	if f, _ := arg(cmd, "admin-token-file"); f != tokenFile {
		t.Errorf("%s: preStop token file %q, want %q", name, f, tokenFile)
	}
	if a, _ := arg(cmd, "admin"); a != "127.0.0.1:12211" {
		t.Errorf("%s: preStop --admin=%q, want the pod's own admin port", name, a)
	}
}

// checkSecrets checks that the key and token files come from the Secret,
// copied by the init container to the volume the node reads.
func checkSecrets(t *testing.T, s appsv1.StatefulSet) {
	t.Helper()
	spec := s.Spec.Template.Spec
	secretVol := ""
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "zonecache" {
			secretVol = v.Name
		}
	}
	if secretVol == "" {
		t.Fatalf("%s: no volume of the Secret zonecache", s.Name)
	}
	if len(spec.InitContainers) != 1 {
		t.Fatalf("%s: %d init containers, want the one that copies the secrets", s.Name, len(spec.InitContainers))
	}
	ic := spec.InitContainers[0]
	script := strings.Join(ic.Command, " ")
	for _, f := range []string{"gossip-key", "admin-token"} {
		if !strings.Contains(script, "/secrets/"+f) {
			t.Errorf("%s: the init container does not copy %s: %q", s.Name, f, script)
		}
	}
	if !mounts(ic, secretVol, "/secrets") || !mounts(container(t, s), "run", "/run/zonecache") || !mounts(ic, "run", "/run/zonecache") {
		t.Errorf("%s: the secret and run volumes are not mounted where the files are copied and read", s.Name)
	}
}

func mounts(c corev1.Container, volume, path string) bool {
	return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == volume && m.MountPath == path })
}

func checkNonRoot(t *testing.T, s appsv1.StatefulSet) {
	t.Helper()
	psc := s.Spec.Template.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod security context %+v, want a non-root user", s.Name, psc)
	}
	for _, c := range append(s.Spec.Template.Spec.InitContainers, s.Spec.Template.Spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s/%s: want no privilege escalation and a read-only root", s.Name, c.Name)
		}
	}
}

// TestHeadlessServiceAndBudget checks the fleet-wide objects: a headless
// Service listing pods before they are ready (a warming node gossips),
// selecting every zone's pods, and a budget of one pod at a time.
func TestHeadlessServiceAndBudget(t *testing.T) {
	r := render(t, overlay)
	if len(r.services) != 1 || len(r.pdbs) != 1 {
		t.Fatalf("%d Services and %d PodDisruptionBudgets, want 1 of each", len(r.services), len(r.pdbs))
	}
	svc, pdb := r.services[0], r.pdbs[0]
	if svc.Name != serviceName || svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v: want headless, listing unready pods", svc.Name, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget: maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
	}
	for _, s := range r.sets {
		pod := s.Spec.Template.Labels
		if !selects(svc.Spec.Selector, pod) || !selects(pdb.Spec.Selector.MatchLabels, pod) {
			t.Errorf("%s: pods %v not selected by the Service %v or the budget %v", s.Name, pod, svc.Spec.Selector, pdb.Spec.Selector.MatchLabels)
		}
		for _, p := range svc.Spec.Ports {
			if !slices.ContainsFunc(container(t, s).Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.String() }) {
				t.Errorf("%s: Service port %s targets %q, which the pod does not name", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	if len(r.sets) > 0 && len(svc.Spec.Selector) == 0 {
		t.Error("the Service selects nothing")
	}
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}
