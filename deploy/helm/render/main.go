// Command render is `helm template` for this project's chart, rebuilt on Helm's own libraries
// where Debian ships them, because no helm binary can be installed on the project's machines:
// Debian bookworm has no helm package, PyPI none, and those machines reach no other download
// site. It follows what Helm 3 does when it renders a chart offline (pkg/engine,
// pkg/chartutil, pkg/releaseutil and `helm template`), so a template that Helm would refuse is
// refused here, with Helm's wording and the template's file name:
//
//   - text/template with sprig v3's TxtFuncMap (less env, expandenv, and getHostByName, which
//     Helm also answers with "" unless --enable-dns), Helm's toYaml, mustToYaml, fromYaml,
//     fromYamlArray, toJson, fromJson, fromJsonArray and toToml, and its late-bound include,
//     tpl, required and fail; lookup returns an empty map, as it does in `helm template`
//     (toYamlPretty, fromToml and mustToToml of newer Helm releases are missing);
//   - every template parsed into one template set (partials `_*.tpl` included, never output),
//     missingkey=zero and "<no value>" removed;
//   - values.yaml coalesced with the -f files (later files win, maps merge, null deletes a
//     key), then checked against values.schema.json with gojsonschema, as Helm 3 checks them;
//   - .Release, .Chart, .Capabilities, .Template and .Files as `helm template` sets them
//     (release "release-name", namespace "default", revision 1, an install);
//   - the output split into documents, each parsed as YAML ("YAML parse error on <file>"),
//     hooks put after the manifests, kinds in Helm's install order, and the chart's
//     kubeVersion constraint checked against --kube-version.
//
// Not supported, with an error saying so: subcharts (charts/), .helmignore, library charts,
// packaged (.tgz) charts; of .Files only Get, GetBytes and Lines (Glob, AsConfig, AsSecrets
// fail as unknown).
//
// Build it with build.sh beside this file: Debian's Go and Go library packages (scripts/setup.sh
// installs them), GOPATH mode and GOPROXY=off, so nothing is downloaded.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// stringList collects a flag given several times, like Helm's -f.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(value string) error {
	*s = append(*s, value)
	return nil
}

type options struct {
	releaseName string
	namespace   string
	kubeVersion string
	apiVersions stringList
	valueFiles  stringList
	outputDir   string
	chartDir    string
}

const usage = `usage: render [flags] [NAME] CHART

Renders the chart in the folder CHART as "helm template NAME CHART" does, offline.
`

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var opts options
	flags := flag.NewFlagSet("render", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprint(stderr, usage)
		flags.PrintDefaults()
	}
	flags.Var(&opts.valueFiles, "f", "a values file (repeatable; later files win)")
	flags.Var(&opts.valueFiles, "values", "same as -f")
	flags.StringVar(&opts.namespace, "namespace", "default", "the release's namespace")
	flags.StringVar(&opts.kubeVersion, "kube-version", defaultKubeVersion,
		"the Kubernetes version .Capabilities reports and the chart's kubeVersion is checked against")
	flags.Var(&opts.apiVersions, "api-versions",
		"an API version added to .Capabilities.APIVersions (repeatable)")
	flags.StringVar(&opts.outputDir, "output-dir", "",
		"write each template's manifests to DIR/<chart>/templates/<file> instead of stdout")
	// Flags may come before, between or after NAME and CHART, as with helm.
	var positional []string
	for {
		if err := flags.Parse(args); err != nil {
			return opts, err
		}
		if args = flags.Args(); len(args) == 0 {
			break
		}
		positional, args = append(positional, args[0]), args[1:]
	}
	switch len(positional) {
	case 1:
		opts.releaseName, opts.chartDir = "release-name", positional[0]
	case 2:
		opts.releaseName, opts.chartDir = positional[0], positional[1]
	default:
		flags.Usage()
		return opts, errors.New("give the chart folder, optionally after a release name")
	}
	return opts, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	opts, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	chrt, err := loadChart(opts.chartDir)
	if err != nil {
		return err
	}
	caps, err := newCapabilities(opts.kubeVersion, opts.apiVersions)
	if err != nil {
		return err
	}
	if err := checkKubeVersion(chrt.Metadata, caps.KubeVersion); err != nil {
		return err
	}
	values, err := releaseValues(chrt, opts.valueFiles)
	if err != nil {
		return err
	}
	top := topLevelValues(chrt, values, caps, opts.releaseName, opts.namespace)
	rendered, err := renderTemplates(chrt, top)
	if err != nil {
		return err
	}
	hooks, manifests, err := sortManifests(rendered)
	if err != nil {
		return err
	}
	if opts.outputDir != "" {
		return writeManifestFiles(opts.outputDir, manifests, hooks, stdout)
	}
	return printManifests(stdout, manifests, hooks)
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		}
		os.Exit(1)
	}
}
