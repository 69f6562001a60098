package serve

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gridprobe/gridprobe/internal/config"
)

// TestDeployManifests checks that every Kubernetes manifest is valid YAML
// with a kind, that the ConfigMap's sites.yaml is a valid config, and that
// the sharded StatefulSet's replicas match its --shard argument.
func TestDeployManifests(t *testing.T) {
	files, err := filepath.Glob("../../deploy/k8s/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("manifests: %v %v", files, err)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			kind, _ := doc["kind"].(string)
			if kind == "" {
				t.Errorf("%s: a document without kind", f)
			}
			kinds[kind] = true
			if kind == "ConfigMap" {
				data := doc["data"].(map[string]any)
				if _, err := config.Parse(f+":sites.yaml", []byte(data["sites.yaml"].(string))); err != nil {
					t.Errorf("ConfigMap sites.yaml: %v", err)
				}
			}
			if kind == "StatefulSet" {
				spec := doc["spec"].(map[string]any)
				replicas := spec["replicas"].(int)
				if !strings.Contains(string(b), "$(POD_INDEX)/"+strconv.Itoa(replicas)) {
					t.Errorf("StatefulSet has %d replicas but another --shard count", replicas)
				}
			}
		}
	}
	for _, k := range []string{"ConfigMap", "StatefulSet", "Deployment", "Service", "ServiceMonitor", "Secret"} {
		if !kinds[k] {
			t.Errorf("no %s manifest", k)
		}
	}
	unit, err := os.ReadFile("../../deploy/gridprobe.service")
	if err != nil || !strings.Contains(string(unit), "ExecStart=/usr/local/bin/probe serve") ||
		!strings.Contains(string(unit), "ExecReload=/bin/kill -HUP $MAINPID") {
		t.Errorf("systemd unit: %v", err)
	}
}
