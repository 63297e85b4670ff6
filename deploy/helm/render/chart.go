package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

// The Kubernetes version .Capabilities reports when --kube-version is not given (Helm's
// default follows the client library it was built with; this one is fixed).
const defaultKubeVersion = "v1.31.0"

// What .Capabilities.HelmVersion.Version says, for charts that compare Helm versions: a Helm 3
// release (main.go lists the functions of newer releases that are missing).
const helmCompatVersion = "v3.16.0"

// builtinAPIVersions are the API group versions every Kubernetes from 1.29 serves (the GA
// ones; Helm lists its client library's whole scheme, betas included). --api-versions adds
// others, such as a CRD's group, as with helm template.
var builtinAPIVersions = []string{
	"v1",
	"admissionregistration.k8s.io/v1",
	"apiextensions.k8s.io/v1",
	"apiregistration.k8s.io/v1",
	"apps/v1",
	"authentication.k8s.io/v1",
	"authorization.k8s.io/v1",
	"autoscaling/v1",
	"autoscaling/v2",
	"batch/v1",
	"certificates.k8s.io/v1",
	"coordination.k8s.io/v1",
	"discovery.k8s.io/v1",
	"events.k8s.io/v1",
	"flowcontrol.apiserver.k8s.io/v1",
	"networking.k8s.io/v1",
	"node.k8s.io/v1",
	"policy/v1",
	"rbac.authorization.k8s.io/v1",
	"scheduling.k8s.io/v1",
	"storage.k8s.io/v1",
}

// Maintainer is one entry of Chart.yaml's maintainers.
type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

// Metadata is Chart.yaml, with the field names templates use (.Chart.Name, .Chart.AppVersion).
type Metadata struct {
	APIVersion   string                   `json:"apiVersion,omitempty"`
	Name         string                   `json:"name,omitempty"`
	Version      string                   `json:"version,omitempty"`
	KubeVersion  string                   `json:"kubeVersion,omitempty"`
	Description  string                   `json:"description,omitempty"`
	Type         string                   `json:"type,omitempty"`
	Keywords     []string                 `json:"keywords,omitempty"`
	Home         string                   `json:"home,omitempty"`
	Sources      []string                 `json:"sources,omitempty"`
	Maintainers  []*Maintainer            `json:"maintainers,omitempty"`
	Icon         string                   `json:"icon,omitempty"`
	AppVersion   string                   `json:"appVersion,omitempty"`
	Deprecated   bool                     `json:"deprecated,omitempty"`
	Annotations  map[string]string        `json:"annotations,omitempty"`
	Condition    string                   `json:"condition,omitempty"`
	Tags         string                   `json:"tags,omitempty"`
	Dependencies []map[string]interface{} `json:"dependencies,omitempty"`
}

// Chart is a chart folder read into memory.
type Chart struct {
	Metadata  *Metadata
	Values    map[string]interface{}
	Schema    []byte
	Templates map[string]string // "templates/x.yaml" -> text
	Files     Files             // every other file, for .Files
}

// Files is .Files: the chart's files that are neither templates nor its metadata or values.
type Files map[string][]byte

// Get returns a file's text, or "" when there is no such file, as Helm's .Files.Get does.
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's bytes, or nil.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Lines returns a file's lines.
func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (kv KubeVersion) String() string { return kv.Version }

// GitVersion is the deprecated name of Version, still used by older charts.
func (kv KubeVersion) GitVersion() string { return kv.Version }

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has says whether an API version ("apps/v1") is served.
func (v VersionSet) Has(apiVersion string) bool {
	for _, known := range v {
		if known == apiVersion {
			return true
		}
	}
	return false
}

// BuildInfo is .Capabilities.HelmVersion.
type BuildInfo struct {
	Version      string `json:"version,omitempty"`
	GitCommit    string `json:"git_commit,omitempty"`
	GitTreeState string `json:"git_tree_state,omitempty"`
	GoVersion    string `json:"go_version,omitempty"`
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion BuildInfo
}

func loadChart(dir string) (*Chart, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read the chart: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a chart folder (packaged .tgz charts are not supported)", dir)
	}
	chrt := &Chart{Templates: map[string]string{}, Files: Files{}}
	err = filepath.WalkDir(dir, func(file string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, file)
		name := filepath.ToSlash(rel)
		if entry.IsDir() {
			if name == "charts" {
				return fmt.Errorf("%s: subcharts (charts/) are not supported by this renderer", dir)
			}
			return nil
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		return chrt.add(name, data)
	})
	if err != nil {
		return nil, err
	}
	if chrt.Metadata == nil {
		return nil, fmt.Errorf("%s has no Chart.yaml: not a chart folder", dir)
	}
	if chrt.Values == nil {
		chrt.Values = map[string]interface{}{}
	}
	return chrt, checkMetadata(chrt.Metadata)
}

func (c *Chart) add(name string, data []byte) error {
	switch {
	case name == "Chart.yaml":
		c.Metadata = &Metadata{}
		if err := yaml.Unmarshal(data, c.Metadata); err != nil {
			return fmt.Errorf("cannot load Chart.yaml: %w", err)
		}
	case name == "values.yaml":
		c.Values = map[string]interface{}{}
		if err := yaml.Unmarshal(data, &c.Values); err != nil {
			return fmt.Errorf("cannot load values.yaml: %w", err)
		}
	case name == "values.schema.json":
		c.Schema = data
	case name == ".helmignore":
		return fmt.Errorf(".helmignore is not supported by this renderer: remove it or the files it names")
	case name == "requirements.yaml" || name == "Chart.lock" || name == "requirements.lock":
		return fmt.Errorf("%s: chart dependencies are not supported by this renderer", name)
	case strings.HasPrefix(name, "templates/"):
		c.Templates[name] = string(data)
	default:
		c.Files[name] = data
	}
	return nil
}

func checkMetadata(m *Metadata) error {
	switch {
	case m.APIVersion != "v1" && m.APIVersion != "v2":
		return fmt.Errorf("Chart.yaml: apiVersion must be v1 or v2, not %q", m.APIVersion)
	case m.Name == "":
		return fmt.Errorf("Chart.yaml: name is required")
	case m.Version == "":
		return fmt.Errorf("Chart.yaml: version is required")
	case m.Type == "library":
		return fmt.Errorf("Chart.yaml: library charts render nothing; render the chart that uses it")
	case m.Type != "" && m.Type != "application":
		return fmt.Errorf("Chart.yaml: type must be application or library, not %q", m.Type)
	case len(m.Dependencies) > 0:
		return fmt.Errorf("Chart.yaml: chart dependencies are not supported by this renderer")
	}
	if _, err := semver.StrictNewVersion(m.Version); err != nil {
		return fmt.Errorf("Chart.yaml: version %q is not a semantic version: %w", m.Version, err)
	}
	return nil
}

func newCapabilities(kubeVersion string, extraAPIVersions []string) (*Capabilities, error) {
	version, err := semver.NewVersion(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("--kube-version %q is not a version such as v1.31.0: %w", kubeVersion, err)
	}
	apis := append(VersionSet{}, builtinAPIVersions...)
	apis = append(apis, extraAPIVersions...)
	return &Capabilities{
		KubeVersion: KubeVersion{
			Version: "v" + version.String(),
			Major:   strconv.FormatUint(version.Major(), 10),
			Minor:   strconv.FormatUint(version.Minor(), 10),
		},
		APIVersions: apis,
		HelmVersion: BuildInfo{Version: helmCompatVersion},
	}, nil
}

func checkKubeVersion(m *Metadata, kube KubeVersion) error {
	if m.KubeVersion == "" {
		return nil
	}
	constraint, err := semver.NewConstraint(m.KubeVersion)
	if err != nil {
		return fmt.Errorf("Chart.yaml: kubeVersion %q is not a version constraint: %w", m.KubeVersion, err)
	}
	version, err := semver.NewVersion(kube.Version)
	if err != nil {
		return err
	}
	if !constraint.Check(version) {
		return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s",
			m.KubeVersion, kube.Version)
	}
	return nil
}

// releaseValues merges the -f files (later ones win), coalesces them over values.yaml and
// checks the result against values.schema.json, as helm template does.
func releaseValues(c *Chart, valueFiles []string) (map[string]interface{}, error) {
	given := map[string]interface{}{}
	for _, file := range valueFiles {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("cannot read the values file: %w", err)
		}
		current := map[string]interface{}{}
		if err := yaml.Unmarshal(data, &current); err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", file, err)
		}
		given = mergeMaps(given, current)
	}
	values := coalesceTables(given, deepCopy(c.Values).(map[string]interface{}))
	if c.Schema == nil {
		return values, nil
	}
	if err := validateValues(c.Metadata.Name, c.Schema, values); err != nil {
		return nil, err
	}
	return values, nil
}

// mergeMaps lays override over base: maps merge key by key, anything else is replaced.
func mergeMaps(base, override map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if vm, ok := v.(map[string]interface{}); ok {
			if bm, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesceTables fills dst (the user's values, which win) from src (the chart's defaults); a
// null in dst deletes the key, so a values file can remove a default.
func coalesceTables(dst, src map[string]interface{}) map[string]interface{} {
	for key, def := range src {
		given, ok := dst[key]
		switch {
		case !ok:
			dst[key] = def
		case given == nil:
			delete(dst, key)
		default:
			givenTable, givenIsTable := given.(map[string]interface{})
			defTable, defIsTable := def.(map[string]interface{})
			if givenIsTable && defIsTable {
				coalesceTables(givenTable, defTable)
			} else if givenIsTable != defIsTable && def != nil {
				fmt.Fprintf(os.Stderr, "warning: %s: a table and a non-table value meet; the given value wins\n", key)
			}
		}
	}
	return dst
}

func deepCopy(v interface{}) interface{} {
	switch value := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(value))
		for k, item := range value {
			out[k] = deepCopy(item)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(value))
		for i, item := range value {
			out[i] = deepCopy(item)
		}
		return out
	default:
		return value
	}
}

func validateValues(chartName string, schema []byte, values map[string]interface{}) error {
	document, err := json.Marshal(values)
	if err != nil {
		return err
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(document))
	if err != nil {
		return fmt.Errorf("%s/values.schema.json cannot be used: %w", chartName, err)
	}
	if result.Valid() {
		return nil
	}
	var problems []string
	for _, problem := range result.Errors() {
		problems = append(problems, "- "+problem.String())
	}
	sort.Strings(problems)
	return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s",
		chartName, strings.Join(problems, "\n"))
}

// topLevelValues is the data every template of the chart receives.
func topLevelValues(c *Chart, values map[string]interface{}, caps *Capabilities, release, namespace string) map[string]interface{} {
	return map[string]interface{}{
		"Chart":        c.Metadata,
		"Capabilities": caps,
		"Files":        c.Files,
		"Values":       values,
		"Subcharts":    map[string]interface{}{},
		"Release": map[string]interface{}{
			"Name":      release,
			"Namespace": namespace,
			"Revision":  1,
			"Service":   "Helm",
			"IsInstall": true,
			"IsUpgrade": false,
		},
	}
}

// templateName is the name Helm gives a template file: "<chart>/templates/x.yaml".
func templateName(c *Chart, file string) string { return path.Join(c.Metadata.Name, file) }
