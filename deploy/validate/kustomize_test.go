package validate

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// manifests is one kustomization's output, decoded into typed objects.
type manifests struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
}

// build runs kustomize on dir and decodes each object strictly into the
// typed struct of its apiVersion and kind, so an unknown or misspelt field,
// a wrong type or an unexpected kind fails.
func build(t *testing.T, dir string) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(deployDir, "k8s", dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var got manifests
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(y, &tm); err != nil {
			t.Fatal(err)
		}
		var target any
		switch gvk := tm.APIVersion + " " + tm.Kind; gvk {
		case "apps/v1 Deployment":
			target = setOnce(t, &got.deployment, gvk)
		case "v1 Service":
			target = setOnce(t, &got.service, gvk)
		case "policy/v1 PodDisruptionBudget":
			target = setOnce(t, &got.pdb, gvk)
		case "autoscaling/v2 HorizontalPodAutoscaler":
			target = setOnce(t, &got.hpa, gvk)
		case "v1 ConfigMap":
			target = setOnce(t, &got.configMap, gvk)
		case "v1 Secret":
			target = setOnce(t, &got.secret, gvk)
		default:
			t.Fatalf("%s: unexpected object %s %s", dir, gvk, r.GetName())
		}
		if err := yaml.UnmarshalStrict(y, target); err != nil {
			t.Fatalf("%s: %s %s does not match the Kubernetes API: %v", dir, tm.Kind, r.GetName(), err)
		}
	}
	if got.deployment == nil || got.service == nil || got.pdb == nil || got.hpa == nil ||
		got.configMap == nil || got.secret == nil {
		t.Fatalf("%s: want a Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler, ConfigMap and Secret", dir)
	}
	return got
}

// setOnce allocates *p for decoding and fails if the kind was already seen.
func setOnce[T any](t *testing.T, p **T, gvk string) *T {
	t.Helper()
	if *p != nil {
		t.Fatalf("more than one %s", gvk)
	}
	*p = new(T)
	return *p
}

func TestKustomizationsAreValid(t *testing.T) {
	for _, dir := range []string{"base", "overlays/sentinel"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			m := build(t, dir)
			checkDeployment(t, m)
			checkWiring(t, m)
			checkEnvSplit(t, m)
		})
	}
}

func checkDeployment(t *testing.T, m manifests) {
	d := m.deployment
	if d.Spec.Replicas != nil {
		t.Errorf("Deployment sets replicas; the HorizontalPodAutoscaler owns the count")
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Deployment selector %v does not select its pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}

	pod := d.Spec.Template.Spec
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("pod mounts a service account token it never uses")
	}
	psc := pod.SecurityContext
	if psc == nil || !isTrue(psc.RunAsNonRoot) || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext must set runAsNonRoot and a non-zero runAsUser, got %+v", psc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]

	if !strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":latest") {
		t.Errorf("image %q must be pinned to a version tag", c.Image)
	}
	probes := []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
		{"livenessProbe", c.LivenessProbe, "/healthz"},
	}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe", p.name)
			continue
		}
		if got := p.probe.HTTPGet.Path; got != p.path {
			t.Errorf("%s path = %q, want %q", p.name, got, p.path)
		}
		if port := containerPort(c, p.probe.HTTPGet.Port); port != 8080 {
			t.Errorf("%s port %s is not the container's port 8080", p.name, p.probe.HTTPGet.Port.String())
		}
	}

	// bcrypt needs real CPU: a check at cost 10 takes 50-80 ms of a core,
	// so a pod requesting less than a quarter core serves a handful per second.
	minimum := map[corev1.ResourceName]string{corev1.ResourceCPU: "250m", corev1.ResourceMemory: "32Mi"}
	for name, least := range minimum {
		req, okReq := c.Resources.Requests[name]
		lim, okLim := c.Resources.Limits[name]
		if !okReq || !okLim {
			t.Errorf("resources: %s needs both a request and a limit", name)
			continue
		}
		if req.Cmp(resource.MustParse(least)) < 0 {
			t.Errorf("resources: %s request %s is below %s", name, req.String(), least)
		}
		if lim.Cmp(req) < 0 {
			t.Errorf("resources: %s limit %s is below its request %s", name, lim.String(), req.String())
		}
	}

	sc := c.SecurityContext
	if sc == nil {
		t.Fatalf("container has no securityContext")
	}
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		t.Errorf("container may run as root")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation must be false")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("readOnlyRootFilesystem must be true")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities must drop ALL and add none, got %+v", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && psc != nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile must be RuntimeDefault, got %+v", seccomp)
	}
}

// checkWiring follows every reference between the objects: names of the
// generated ConfigMap and Secret, selectors, ports and the scale target.
func checkWiring(t *testing.T, m manifests) {
	d := m.deployment
	pod := labels.Set(d.Spec.Template.Labels)
	c := d.Spec.Template.Spec.Containers[0]

	var cms, secrets []string
	for _, e := range c.EnvFrom {
		switch {
		case e.ConfigMapRef != nil:
			cms = append(cms, e.ConfigMapRef.Name)
		case e.SecretRef != nil:
			secrets = append(secrets, e.SecretRef.Name)
		}
	}
	if !slices.Equal(cms, []string{m.configMap.Name}) {
		t.Errorf("envFrom ConfigMaps %v, want [%s]", cms, m.configMap.Name)
	}
	if !slices.Equal(secrets, []string{m.secret.Name}) {
		t.Errorf("envFrom Secrets %v, want [%s]", secrets, m.secret.Name)
	}

	if sel := labels.SelectorFromSet(m.service.Spec.Selector); len(m.service.Spec.Selector) == 0 || !sel.Matches(pod) {
		t.Errorf("Service selector %v does not select the pods %v", m.service.Spec.Selector, pod)
	}
	for _, p := range m.service.Spec.Ports {
		if containerPort(c, p.TargetPort) != 8080 {
			t.Errorf("Service port %d targets %s, not the container's port 8080", p.Port, p.TargetPort.String())
		}
	}

	sel, err := metav1.LabelSelectorAsSelector(m.pdb.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(pod) {
		t.Errorf("PodDisruptionBudget selector %v does not select the pods", m.pdb.Spec.Selector)
	}
	if m.pdb.Spec.MinAvailable == nil && m.pdb.Spec.MaxUnavailable == nil {
		t.Errorf("PodDisruptionBudget sets neither minAvailable nor maxUnavailable")
	}

	h := m.hpa.Spec
	if h.ScaleTargetRef.Kind != "Deployment" || h.ScaleTargetRef.Name != d.Name {
		t.Errorf("HorizontalPodAutoscaler targets %s %s, want Deployment %s", h.ScaleTargetRef.Kind, h.ScaleTargetRef.Name, d.Name)
	}
	if h.MinReplicas == nil || *h.MinReplicas < 2 || h.MaxReplicas < *h.MinReplicas {
		t.Errorf("HorizontalPodAutoscaler replicas min %v max %d: want at least 2 and max >= min", h.MinReplicas, h.MaxReplicas)
	}
	cpu := slices.ContainsFunc(h.Metrics, func(ms autoscalingv2.MetricSpec) bool {
		return ms.Type == autoscalingv2.ResourceMetricSourceType && ms.Resource != nil && ms.Resource.Name == corev1.ResourceCPU
	})
	if !cpu {
		t.Errorf("HorizontalPodAutoscaler does not scale on CPU")
	}
}

// checkEnvSplit keeps credentials out of the ConfigMap, every variable known
// to the contract, committed secrets placeholders, and exactly one Redis
// topology configured.
func checkEnvSplit(t *testing.T, m manifests) {
	env := map[string]string{}
	for k, v := range m.configMap.Data {
		if secretVars[k] {
			t.Errorf("ConfigMap holds the secret %s", k)
		}
		if strings.Contains(v, "@") || strings.Contains(v, placeholder) {
			t.Errorf("ConfigMap value of %s looks like a credential", k)
		}
		env[k] = v
	}
	if len(m.configMap.BinaryData) > 0 {
		t.Errorf("ConfigMap has binaryData")
	}
	for k, v := range m.secret.Data {
		if !isPlaceholder(string(v)) {
			t.Errorf("Secret %s has a value that is not a placeholder; real secrets are never committed", k)
		}
		if _, dup := env[k]; dup {
			t.Errorf("%s is in both the ConfigMap and the Secret", k)
		}
		env[k] = string(v)
	}
	for k := range env {
		if !contractVars[k] {
			t.Errorf("%s is not a variable otpgate reads", k)
		}
	}
	for k := range secretVars {
		if strings.HasPrefix(k, "REDIS_") || strings.HasPrefix(k, "CONNEXUS_USER") || k == "CONNEXUS_PASSWORD" ||
			strings.HasPrefix(k, "WEBSMS_") || strings.HasPrefix(k, "SMSNEXUS_") || k == "OTPGATE_EVENTS_SECRET" ||
			k == "OTPGATE_ENCRYPTION_KEYS" {
			continue // optional: another topology, auth mode or sender, events or authenticator apps
		}
		if _, ok := m.secret.Data[k]; !ok {
			t.Errorf("Secret lacks %s", k)
		}
	}

	topologies := 0
	for _, k := range []string{"REDIS_URL", "REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS"} {
		if env[k] != "" {
			topologies++
		}
	}
	if topologies != 1 {
		t.Errorf("want exactly one of REDIS_URL, REDIS_CLUSTER_ADDRS, REDIS_SENTINEL_ADDRS, got %d", topologies)
	}
	if env["REDIS_SENTINEL_ADDRS"] != "" {
		if env["REDIS_SENTINEL_MASTER"] == "" {
			t.Errorf("REDIS_SENTINEL_ADDRS without REDIS_SENTINEL_MASTER")
		}
		if env["REDIS_MIN_REPLICA_ACKS"] != "1" {
			t.Errorf("Sentinel setup: REDIS_MIN_REPLICA_ACKS = %q, want 1", env["REDIS_MIN_REPLICA_ACKS"])
		}
		// A production Sentinel setup has passwords on the masters and the
		// sentinels; the overlay must show where they go.
		for _, k := range []string{"REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD"} {
			if _, ok := m.secret.Data[k]; !ok {
				t.Errorf("Sentinel setup: Secret lacks %s", k)
			}
		}
	}
	checkRedisTLS(t, m, env)
}

// checkRedisTLS follows REDIS_TLS_CA_FILE to the volume that must hold it:
// otpgate refuses to start when the file is missing.
func checkRedisTLS(t *testing.T, m manifests, env map[string]string) {
	switch env["REDIS_TLS"] {
	case "", "on", "off":
	default:
		t.Errorf("REDIS_TLS = %q, want on or off", env["REDIS_TLS"])
	}
	if env["REDIS_TLS"] == "on" && env["REDIS_URL"] != "" {
		t.Errorf("REDIS_TLS=on beside REDIS_URL, which otpgate refuses: use rediss://")
	}
	ca := env["REDIS_TLS_CA_FILE"]
	if ca == "" {
		return
	}
	if env["REDIS_TLS"] != "on" && !strings.HasPrefix(env["REDIS_URL"], "rediss://") {
		t.Errorf("REDIS_TLS_CA_FILE without TLS, which otpgate refuses")
	}
	pod := m.deployment.Spec.Template.Spec
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, vm := range pod.Containers[0].VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, ca)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			continue
		}
		if !vm.ReadOnly {
			t.Errorf("volume %s holding REDIS_TLS_CA_FILE is mounted writable", vm.Name)
		}
		v, ok := volumes[vm.Name]
		if !ok {
			t.Fatalf("REDIS_TLS_CA_FILE is on volume mount %s, which the pod does not define", vm.Name)
		}
		var items []corev1.KeyToPath
		switch {
		case v.Secret != nil:
			items = v.Secret.Items
		case v.ConfigMap != nil:
			items = v.ConfigMap.Items
		default:
			t.Fatalf("REDIS_TLS_CA_FILE is on volume %s, which is neither a Secret nor a ConfigMap", vm.Name)
		}
		if len(items) > 0 && !slices.ContainsFunc(items, func(i corev1.KeyToPath) bool { return i.Path == rel }) {
			t.Errorf("REDIS_TLS_CA_FILE %s: volume %s projects no item at %s", ca, vm.Name, rel)
		}
		return
	}
	t.Errorf("REDIS_TLS_CA_FILE %s is on no volume mount of the container", ca)
}

// containerPort resolves a named or numbered port against the container.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}

func isTrue(b *bool) bool { return b != nil && *b }
