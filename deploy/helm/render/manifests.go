package main

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// manifest is one YAML document of a rendered template.
type manifest struct {
	source  string // the template's name, "<chart>/templates/x.yaml"
	content string
	kind    string
}

// head is the part of a document Helm reads to sort it and to find hooks.
type head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind,omitempty"`
	Metadata   *struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata,omitempty"`
}

const hookAnnotation = "helm.sh/hook"

var hookEvents = map[string]bool{
	"pre-install": true, "post-install": true, "pre-delete": true, "post-delete": true,
	"pre-upgrade": true, "post-upgrade": true, "pre-rollback": true, "post-rollback": true,
	"test": true, "test-success": true,
}

// installOrder is the order in which Helm creates kinds; other kinds come last, by name.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
}

// A line that is only "---" (with any spaces) separates documents, as in Helm.
var documentSeparator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

func splitDocuments(text string) []string {
	var docs []string
	for _, doc := range documentSeparator.Split(strings.TrimSpace(text), -1) {
		if doc = strings.TrimSpace(doc); doc != "" {
			docs = append(docs, doc)
		}
	}
	return docs
}

// sortManifests splits the rendered templates into documents, parses each one's head (a
// template that renders broken YAML is refused here, naming it), and returns the hooks and the
// other manifests, each in install order.
func sortManifests(rendered map[string]string) (hooks, manifests []manifest, err error) {
	sources := make([]string, 0, len(rendered))
	for source := range rendered {
		sources = append(sources, source)
	}
	sort.Strings(sources)
	for _, source := range sources {
		if strings.HasSuffix(source, "NOTES.txt") {
			continue // shown after an install, never applied
		}
		for _, doc := range splitDocuments(rendered[source]) {
			var h head
			if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
				return nil, nil, fmt.Errorf("YAML parse error on %s: %w", source, err)
			}
			m := manifest{source: source, content: doc, kind: h.Kind}
			events, isHook := "", false
			if h.Metadata != nil {
				events, isHook = h.Metadata.Annotations[hookAnnotation]
			}
			switch {
			case !isHook:
				manifests = append(manifests, m)
			case knownHookEvents(events):
				hooks = append(hooks, m)
			default:
				fmt.Fprintf(os.Stderr, "info: skipping unknown hook: %q\n", events)
			}
		}
	}
	return sortByKind(hooks), sortByKind(manifests), nil
}

func knownHookEvents(events string) bool {
	for _, event := range strings.Split(events, ",") {
		if !hookEvents[strings.ToLower(strings.TrimSpace(event))] {
			return false
		}
	}
	return true
}

func sortByKind(ms []manifest) []manifest {
	rank := make(map[string]int, len(installOrder))
	for i, kind := range installOrder {
		rank[kind] = i
	}
	sort.SliceStable(ms, func(i, j int) bool {
		ri, knownI := rank[ms[i].kind]
		rj, knownJ := rank[ms[j].kind]
		switch {
		case knownI && knownJ:
			return ri < rj
		case knownI != knownJ:
			return knownI
		default:
			return ms[i].kind < ms[j].kind
		}
	})
	return ms
}

func printManifests(out io.Writer, manifests, hooks []manifest) error {
	for _, m := range append(append([]manifest{}, manifests...), hooks...) {
		if _, err := fmt.Fprintf(out, "---\n# Source: %s\n%s\n", m.source, m.content); err != nil {
			return err
		}
	}
	return nil
}

// writeManifestFiles writes each template's documents to DIR/<chart>/templates/<file>, as
// helm template --output-dir does, and says which files it wrote.
func writeManifestFiles(dir string, manifests, hooks []manifest, out io.Writer) error {
	written := map[string]bool{}
	for _, m := range append(append([]manifest{}, manifests...), hooks...) {
		file := filepath.Join(dir, filepath.FromSlash(path.Clean(m.source)))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if written[file] {
			flags = os.O_APPEND | os.O_WRONLY
		}
		f, err := os.OpenFile(file, flags, 0o644)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "---\n# Source: %s\n%s\n", m.source, m.content)
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			return err
		}
		if !written[file] {
			fmt.Fprintf(out, "wrote %s\n", file)
		}
		written[file] = true
	}
	return nil
}
