package ce

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestParseJobsOneManyEmpty(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ids        []string
		codes      []string
	}{
		{"empty body", "", nil, nil},
		{"white space", " \n", nil, nil},
		{"one child is an object", `{"job":{"status-code":"201","reason":"Created","id":"abc","state":"ACCEPTING"}}`, []string{"abc"}, []string{"201"}},
		{"several are an array", `{"job":[{"status-code":"202","reason":"Queued for cleaning","id":"a"},{"status-code":"404","reason":"Job not found","id":"b"}]}`,
			[]string{"a", "b"}, []string{"202", "404"}},
		{"numeric status code", `{"job":{"status-code":201,"id":"n"}}`, []string{"n"}, []string{"201"}},
		{"listing without codes", `{"job":[{"id":"x"},{"id":"y"}]}`, []string{"x", "y"}, []string{"", ""}},
		{"null job", `{"job":null}`, nil, nil},
		{"no job key", `{}`, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := parseJobs([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != len(tc.ids) {
				t.Fatalf("got %d items %+v, want %d", len(items), items, len(tc.ids))
			}
			for i, it := range items {
				if it.ID != tc.ids[i] || string(it.StatusCode) != tc.codes[i] {
					t.Errorf("item %d = %+v, want id %s code %s", i, it, tc.ids[i], tc.codes[i])
				}
			}
		})
	}
	for _, bad := range []string{`<html>`, `{"job":"x"}`, `{"job":[1,2]}`, `{"job":{"status-code":true}}`, `[`} {
		if _, err := parseJobs([]byte(bad)); err == nil {
			t.Errorf("parseJobs(%q) accepted", bad)
		}
	}
}

func TestParseSession(t *testing.T) {
	s, err := parseSession([]byte(`{"file":"gridprobe.out"}`))
	if err != nil || len(s.File) != 1 || s.File[0] != "gridprobe.out" {
		t.Fatalf("one file: %+v %v", s, err)
	}
	s, err = parseSession([]byte(`{"file":["a","b"],"dir":"d"}`))
	if err != nil || len(s.File) != 2 || len(s.Dir) != 1 {
		t.Fatalf("two files: %+v %v", s, err)
	}
	if s, err = parseSession(nil); err != nil || len(s.File) != 0 {
		t.Fatalf("empty: %+v %v", s, err)
	}
}

// The info document of the testbed's A-REX 6.17 (GET /rest/1.0/info).
func realInfo(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/arc-info.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAnalyzeRealInfo(t *testing.T) {
	doc, err := parseInfo(realInfo(t))
	if err != nil {
		t.Fatal(err)
	}
	r := analyzeInfo(doc, "https://localhost:18450/arex", "grid")
	if len(r.Problems) != 0 {
		t.Fatalf("problems: %+v", r.Problems)
	}
	if r.Queue == nil || r.Queue.Name != "grid" || r.Queue.ServingState != "production" || r.Queue.FreeSlots != "2" {
		t.Errorf("queue = %+v", r.Queue)
	}
	if r.Endpoint == nil || r.Endpoint.URL != "https://localhost:18450/arex" || r.Endpoint.HealthState != "ok" {
		t.Errorf("endpoint = %+v", r.Endpoint)
	}
	if r.Service != "gridprobe-testbed-arc" || r.Quality != "production" || r.LRMS != "fork 0.9" {
		t.Errorf("service %q quality %q lrms %q", r.Service, r.Quality, r.LRMS)
	}
	if strings.Join(r.Queues, ",") != "grid" {
		t.Errorf("queues = %v", r.Queues)
	}
	// A VO share name (grid_testvo) is not a queue, but its MappingQueue is.
	if r := analyzeInfo(doc, "", "nosuchqueue"); !hasProblem(r, true, "queue nosuchqueue not published (queues: grid)") {
		t.Errorf("missing queue: %+v", r.Problems)
	}
	if r := analyzeInfo(doc, "https://other:443/arex", "grid"); !hasProblem(r, false, "REST endpoint published as https://localhost:18450/arex") {
		t.Errorf("other URL: %+v", r.Problems)
	}
}

func hasProblem(r infoReport, critical bool, sub string) bool {
	for _, p := range r.Problems {
		if p.critical == critical && strings.Contains(p.text, sub) {
			return true
		}
	}
	return false
}

// mutate edits the real document's ComputingService as generic JSON.
func mutate(t *testing.T, edit func(svc map[string]any)) *glue2Doc {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(realInfo(t), &m); err != nil {
		t.Fatal(err)
	}
	svc := m["Domains"].(map[string]any)["AdminDomain"].(map[string]any)["Services"].(map[string]any)["ComputingService"].(map[string]any)
	edit(svc)
	b, _ := json.Marshal(m)
	doc, err := parseInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestAnalyzeInfoVariants(t *testing.T) {
	// One share: an object, not an array.
	doc := mutate(t, func(svc map[string]any) {
		svc["ComputingShare"] = svc["ComputingShare"].([]any)[0]
	})
	if r := analyzeInfo(doc, "", "grid"); len(r.Problems) != 0 || r.Queue == nil || r.Queue.Name != "grid" {
		t.Errorf("one share: %+v %+v", r.Problems, r.Queue)
	}
	// No REST endpoint.
	doc = mutate(t, func(svc map[string]any) {
		var keep []any
		for _, e := range svc["ComputingEndpoint"].([]any) {
			if e.(map[string]any)["InterfaceName"] != RESTInterface {
				keep = append(keep, e)
			}
		}
		svc["ComputingEndpoint"] = keep
	})
	if r := analyzeInfo(doc, "", "grid"); !hasProblem(r, true, "REST interface org.nordugrid.arcrest not advertised (interfaces: org.ogf.glue.emies") {
		t.Errorf("no REST: %+v", r.Problems)
	}
	// Draining queue, unhealthy endpoint, service in testing.
	doc = mutate(t, func(svc map[string]any) {
		svc["QualityLevel"] = "testing"
		for _, s := range svc["ComputingShare"].([]any) {
			s.(map[string]any)["ServingState"] = "draining"
		}
		for _, e := range svc["ComputingEndpoint"].([]any) {
			e.(map[string]any)["HealthState"] = "critical"
		}
	})
	r := analyzeInfo(doc, "", "grid")
	for _, want := range []struct {
		crit bool
		sub  string
	}{{false, `QualityLevel is "testing"`}, {false, `queue grid ServingState "draining"`}, {true, `HealthState "critical"`}} {
		if !hasProblem(r, want.crit, want.sub) {
			t.Errorf("want problem %q (critical %v) in %+v", want.sub, want.crit, r.Problems)
		}
	}
	// Numbers instead of strings.
	doc = mutate(t, func(svc map[string]any) {
		for _, s := range svc["ComputingShare"].([]any) {
			s.(map[string]any)["FreeSlots"] = 7
		}
	})
	if r := analyzeInfo(doc, "", "grid"); r.Queue == nil || r.Queue.FreeSlots != "7" {
		t.Errorf("numeric FreeSlots: %+v", r.Queue)
	}
	// No service at all, and an empty body.
	if r := analyzeInfo(&glue2Doc{}, "", "grid"); !hasProblem(r, true, "no ComputingService") {
		t.Errorf("empty doc: %+v", r.Problems)
	}
	if _, err := parseInfo(nil); err == nil {
		t.Error("empty info body accepted")
	}
}

func FuzzParseJobs(f *testing.F) {
	for _, s := range []string{"", `{"job":{"id":"a","status-code":"201"}}`, `{"job":[{"id":"a"},{"id":"b","status-code":404}]}`, `{"job":null}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := parseJobs(b)
		if err != nil {
			return
		}
		// Whatever parsed re-encodes and parses back to the same ids.
		out, merr := json.Marshal(jobList{Job: items})
		if merr != nil {
			t.Fatalf("re-encode: %v", merr)
		}
		again, err := parseJobs(out)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		if len(again) != len(items) {
			t.Fatalf("%d items became %d", len(items), len(again))
		}
		for i := range items {
			if again[i].ID != items[i].ID || again[i].StatusCode != items[i].StatusCode {
				t.Fatalf("item %d: %+v became %+v", i, items[i], again[i])
			}
		}
	})
}

func FuzzAnalyzeInfo(f *testing.F) {
	f.Add([]byte(`{"Domains":{"AdminDomain":{"Services":{"ComputingService":{"ComputingShare":{"Name":"grid"}}}}}}`))
	f.Add([]byte(`{"Domains":{"AdminDomain":[{"Services":{"ComputingService":[{"ComputingEndpoint":{"InterfaceName":"org.nordugrid.arcrest","Capability":"x"}}]}}]}}`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := parseInfo(b)
		if err != nil {
			return
		}
		r := analyzeInfo(doc, "https://ce/arex", "grid")
		if r.Queue == nil && len(r.Problems) == 0 {
			t.Fatal("no queue and no problem reported")
		}
		if r.Endpoint == nil && !hasProblem(r, true, "") {
			t.Fatal("no REST endpoint and no critical problem")
		}
	})
}
