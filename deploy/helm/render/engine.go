package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/BurntSushi/toml"
	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

// Helm wraps the messages of required and fail in these markers so that an execution error can
// be cut down to the chart author's own words.
const (
	failStart = "HELM_ERR_START"
	failEnd   = "HELM_ERR_END"
)

var failMessage = regexp.MustCompile(failStart + `(.*)` + failEnd)

// An include nested deeper than this is taken for endless recursion, as in Helm.
const maxIncludeDepth = 1000

// renderTemplates executes every template of the chart with the top-level values and returns
// the output of each non-partial one, by template name.
func renderTemplates(c *Chart, top map[string]interface{}) (rendered map[string]string, err error) {
	defer func() {
		// text/template panics on some errors inside functions; Helm reports them this way.
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering template failed: %v", r)
		}
	}()
	set := template.New("gotpl").Option("missingkey=zero")
	set.Funcs(templateFuncs(set))
	names := parseOrder(c)
	for _, name := range names {
		if _, err := set.New(name).Parse(c.Templates[strings.TrimPrefix(name, c.Metadata.Name+"/")]); err != nil {
			return nil, parseError(name, err)
		}
	}
	rendered = map[string]string{}
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue // partials only define templates for include
		}
		data := copyTop(top)
		data["Template"] = map[string]interface{}{
			"Name":     name,
			"BasePath": path.Join(c.Metadata.Name, "templates"),
		}
		var out strings.Builder
		if err := set.ExecuteTemplate(&out, name, data); err != nil {
			return nil, execError(name, err)
		}
		// missingkey=zero still prints "<no value>" for a missing key of a map of interfaces.
		rendered[name] = strings.ReplaceAll(out.String(), "<no value>", "")
	}
	return rendered, nil
}

// parseOrder lists the template names deeper folders first, then by name descending, as Helm
// parses them: when two files define the same template, the one parsed last wins.
func parseOrder(c *Chart) []string {
	names := make([]string, 0, len(c.Templates))
	for file := range c.Templates {
		names = append(names, templateName(c, file))
	}
	sort.Slice(names, func(i, j int) bool {
		di, dj := strings.Count(names[i], "/"), strings.Count(names[j], "/")
		if di != dj {
			return di > dj
		}
		return names[i] > names[j]
	})
	return names
}

func copyTop(top map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(top)+1)
	for k, v := range top {
		out[k] = v
	}
	return out
}

// templateFuncs is sprig's text function map with Helm's changes and additions; include and
// tpl close over the template set, so that they can execute its named templates.
func templateFuncs(set *template.Template) template.FuncMap {
	funcs := sprig.TxtFuncMap()
	// A chart must not read the renderer's environment, nor look up hosts (Helm answers
	// getHostByName with "" unless --enable-dns).
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["getHostByName"] = func(string) string { return "" }
	funcs["toYaml"] = toYAML
	funcs["mustToYaml"] = mustToYAML
	funcs["fromYaml"] = fromYAML
	funcs["fromYamlArray"] = fromYAMLArray
	funcs["toJson"] = toJSON
	funcs["fromJson"] = fromJSON
	funcs["fromJsonArray"] = fromJSONArray
	funcs["toToml"] = toTOML
	funcs["required"] = required
	funcs["fail"] = fail
	// helm template has no cluster: lookup finds nothing.
	funcs["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	depth := map[string]int{}
	funcs["include"] = includeFunc(set, depth)
	funcs["tpl"] = tplFunc(set, depth)
	return funcs
}

func includeFunc(set *template.Template, depth map[string]int) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		if depth[name] > maxIncludeDepth {
			return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
		}
		depth[name]++
		defer func() { depth[name]-- }()
		var out strings.Builder
		err := set.ExecuteTemplate(&out, name, data)
		return out.String(), err
	}
}

// tplFunc renders a string as a template, with the chart's named templates at hand: a clone of
// the set, so that the string's own defines do not leak into the chart's.
func tplFunc(set *template.Template, depth map[string]int) func(string, interface{}) (string, error) {
	return func(text string, data interface{}) (string, error) {
		clone, err := set.Clone()
		if err != nil {
			return "", fmt.Errorf("cannot clone template: %w", err)
		}
		clone.Option("missingkey=zero")
		clone.Funcs(template.FuncMap{
			"include": includeFunc(clone, depth),
			"tpl":     tplFunc(clone, depth),
		})
		parsed, err := clone.New(currentTemplateName(data)).Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", text, err)
		}
		var out strings.Builder
		if err := parsed.Execute(&out, data); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
		}
		return strings.ReplaceAll(out.String(), "<no value>", ""), nil
	}
}

// currentTemplateName names a tpl string after the template calling it, so that its errors
// point at that file.
func currentTemplateName(data interface{}) string {
	if top, ok := data.(map[string]interface{}); ok {
		if tmpl, ok := top["Template"].(map[string]interface{}); ok {
			if name, ok := tmpl["Name"].(string); ok {
				return name
			}
		}
	}
	return "tpl"
}

func required(message string, value interface{}) (interface{}, error) {
	if value == nil {
		return value, errors.New(failStart + message + failEnd)
	}
	if text, ok := value.(string); ok && text == "" {
		return value, errors.New(failStart + message + failEnd)
	}
	return value, nil
}

func fail(message string) (string, error) {
	return "", errors.New(failStart + message + failEnd)
}

// toYAML marshals through JSON, as sigs.k8s.io/yaml does for Helm: keys sorted, no trailing
// newline; an error gives "" (a template function cannot fail here, Helm swallows it too).
func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

// mustToYAML is toYAML that fails the template instead of printing "".
func mustToYAML(v interface{}) (string, error) {
	data, err := yaml.Marshal(v)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(data), "\n"), nil
}

// fromYAML reads a YAML mapping; a parse error is put under the key "Error", as Helm does.
func fromYAML(text string) map[string]interface{} {
	out := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(text), &out); err != nil {
		out["Error"] = err.Error()
	}
	return out
}

func fromYAMLArray(text string) []interface{} {
	var out []interface{}
	if err := yaml.Unmarshal([]byte(text), &out); err != nil {
		out = []interface{}{err.Error()}
	}
	return out
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(text string) map[string]interface{} {
	out := map[string]interface{}{}
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		out["Error"] = err.Error()
	}
	return out
}

func fromJSONArray(text string) []interface{} {
	var out []interface{}
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		out = []interface{}{err.Error()}
	}
	return out
}

func toTOML(v interface{}) string {
	var out bytes.Buffer
	if err := toml.NewEncoder(&out).Encode(v); err != nil {
		return err.Error()
	}
	return out.String()
}

// parseError shortens text/template's "template: NAME:LINE: message" to Helm's wording.
func parseError(name string, err error) error {
	parts := strings.Split(err.Error(), ": ")
	if len(parts) < 3 {
		return fmt.Errorf("parse error in (%s): %s", name, err)
	}
	return fmt.Errorf("parse error at (%s): %s", parts[1], parts[len(parts)-1])
}

// execError shortens an execution error to Helm's wording, keeping the file and line, and for
// required and fail only the chart's own message.
func execError(name string, err error) error {
	var execErr template.ExecError
	if !errors.As(err, &execErr) {
		return fmt.Errorf("execution error in (%s): %s", name, err)
	}
	parts := strings.SplitN(err.Error(), ": ", 3)
	if len(parts) != 3 {
		return fmt.Errorf("execution error in (%s): %s", name, err)
	}
	if own := failMessage.FindStringSubmatch(parts[2]); own != nil {
		return fmt.Errorf("execution error at (%s): %s", parts[1], own[1])
	}
	return err
}
