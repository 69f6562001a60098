package downtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sample is shaped like GOCDB's get_downtime documentation example.
const sample = `<?xml version="1.0" encoding="UTF-8"?>
<results>
  <DOWNTIME ID="1" PRIMARY_KEY="1G0" CLASSIFICATION="SCHEDULED">
    <PRIMARY_KEY>1G0</PRIMARY_KEY>
    <HOSTNAME>se.example.org</HOSTNAME>
    <SERVICE_TYPE>webdav</SERVICE_TYPE>
    <ENDPOINT>se.example.orgwebdav</ENDPOINT>
    <HOSTED_BY>T2_XX_Example</HOSTED_BY>
    <AFFECTED_ENDPOINTS/>
    <SEVERITY>OUTAGE</SEVERITY>
    <DESCRIPTION>Storage upgrade</DESCRIPTION>
    <INSERT_DATE>1764000000</INSERT_DATE>
    <START_DATE>1765101600</START_DATE>
    <END_DATE>1765112400</END_DATE>
    <FORMATED_START_DATE>2025-12-07 10:00</FORMATED_START_DATE>
    <FORMATED_END_DATE>2025-12-07 13:00</FORMATED_END_DATE>
  </DOWNTIME>
  <DOWNTIME ID="2" PRIMARY_KEY="2G0" CLASSIFICATION="SCHEDULED">
    <HOSTNAME>se.example.org</HOSTNAME>
    <SERVICE_TYPE>XRootD</SERVICE_TYPE>
    <HOSTED_BY>T2_XX_Example</HOSTED_BY>
    <SEVERITY>WARNING</SEVERITY>
    <FORMATED_START_DATE>2025-12-07 10:00</FORMATED_START_DATE>
    <FORMATED_END_DATE>2025-12-07 13:00</FORMATED_END_DATE>
  </DOWNTIME>
  <DOWNTIME ID="3" PRIMARY_KEY="3G0" CLASSIFICATION="UNSCHEDULED">
    <HOSTNAME>ce.example.org</HOSTNAME>
    <SERVICE_TYPE>ARC-CE</SERVICE_TYPE>
    <HOSTED_BY>T2_XX_Example</HOSTED_BY>
    <SEVERITY>OUTAGE</SEVERITY>
    <START_DATE>1765101600</START_DATE>
    <END_DATE>1765112400</END_DATE>
  </DOWNTIME>
  <DOWNTIME ID="4" PRIMARY_KEY="4G0" CLASSIFICATION="SCHEDULED">
    <SITENAME>T2_YY_Whole</SITENAME>
    <SEVERITY>OUTAGE</SEVERITY>
    <START_DATE>1765101600</START_DATE>
    <END_DATE>1765112400</END_DATE>
  </DOWNTIME>
</results>
`

func TestParseAndCovers(t *testing.T) {
	list, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("%d downtimes", len(list))
	}
	in := time.Date(2025, 12, 7, 11, 0, 0, 0, time.UTC)
	before, end := in.Add(-2*time.Hour), time.Unix(1765112400, 0)
	tests := []struct {
		site, host, proto string
		at                time.Time
		want              bool
	}{
		{"T2_XX_Example", "se.example.org", "webdav", in, true},
		{"T2_XX_Example", "SE.example.org", "webdav", in, true},
		{"T2_XX_Example", "se.example.org", "webdav", before, false},
		{"T2_XX_Example", "se.example.org", "webdav", end, false},             // end is exclusive
		{"T2_XX_Example", "se.example.org", "xrootd", in, false},              // at risk only
		{"T2_XX_Example", "ce.example.org", "arc-ce", in, false},              // unscheduled
		{"T2_XX_Example", "other.example.org", "webdav", in, false},           // another host
		{"T2_ZZ_Other", "se.example.org", "webdav", in, false},                // another site
		{"T2_YY_Whole", "anything.example.org", "htcondor-ce", in, true},      // a site downtime
		{"T2_YY_Whole", "anything.example.org", "htcondor-ce", before, false}, // before it
	}
	for _, tt := range tests {
		got := false
		for _, d := range list {
			got = got || d.Covers(tt.site, tt.host, tt.proto, tt.at)
		}
		if got != tt.want {
			t.Errorf("%s %s %s at %s: %v, want %v", tt.site, tt.host, tt.proto, tt.at.Format(time.RFC3339), got, tt.want)
		}
	}
}

func TestParseErrorsNamePlaces(t *testing.T) {
	bad := `<results>
  <DOWNTIME ID="7" CLASSIFICATION="MAYBE"><HOSTED_BY>S</HOSTED_BY><SEVERITY>OUTAGE</SEVERITY><START_DATE>x</START_DATE><END_DATE>1</END_DATE></DOWNTIME>
  <DOWNTIME ID="8" CLASSIFICATION="SCHEDULED"><SEVERITY>OUTAGE</SEVERITY><START_DATE>10</START_DATE><END_DATE>5</END_DATE><HOSTED_BY>S</HOSTED_BY></DOWNTIME>
  <DOWNTIME CLASSIFICATION="SCHEDULED"><SEVERITY>LOW</SEVERITY><START_DATE>1</START_DATE></DOWNTIME>
</results>`
	_, err := Parse([]byte(bad))
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`results/DOWNTIME[1] (ID 7)/@CLASSIFICATION: "MAYBE" is not SCHEDULED or UNSCHEDULED`,
		`results/DOWNTIME[1] (ID 7)/START_DATE: "x" is not a Unix time`,
		`results/DOWNTIME[2] (ID 8)/END_DATE: 1970-01-01T00:00:05Z is not after START_DATE 1970-01-01T00:00:10Z`,
		`results/DOWNTIME[3]/HOSTED_BY: missing (neither HOSTED_BY nor SITENAME names the site)`,
		`results/DOWNTIME[3]/SEVERITY: "LOW" is not OUTAGE or WARNING`,
		`results/DOWNTIME[3]/END_DATE: missing`,
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}
	if _, err := Parse([]byte("<results><DOWNTIME>")); err == nil || !strings.HasPrefix(err.Error(), "downtime XML: ") {
		t.Errorf("broken XML: %v", err)
	}
}

func TestCollector(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "downtimes.xml")
	if err := os.WriteFile(path, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	services := func() []Service {
		return []Service{
			{Site: "T2_XX_Example", Name: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo", URL: "https://se.example.org:1094"},
			{Site: "T2_XX_Example", Name: "org.testvo.SE-XRootD", Protocol: "xrootd", VO: "testvo", URL: "roots://se.example.org:1094"},
			{Site: "T2_XX_Example", Name: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo", URL: "https://se.example.org:1094"},
		}
	}
	c := NewCollector(path, services, nil)
	c.now = func() time.Time { return time.Date(2025, 12, 7, 11, 0, 0, 0, time.UTC) }
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	want := `# HELP gridprobe_downtime_file_valid 1 if the downtime file last read parsed (else the previous downtimes are kept, and the log says why).
# TYPE gridprobe_downtime_file_valid gauge
gridprobe_downtime_file_valid 1
# HELP gridprobe_service_scheduled_downtime 1 while a SCHEDULED OUTAGE downtime (GOCDB) covers the service, else 0; reliability leaves that time out.
# TYPE gridprobe_service_scheduled_downtime gauge
gridprobe_service_scheduled_downtime{protocol="webdav",service="org.testvo.SE-WebDAV",site="T2_XX_Example",vo="testvo"} 1
gridprobe_service_scheduled_downtime{protocol="xrootd",service="org.testvo.SE-XRootD",site="T2_XX_Example",vo="testvo"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// A broken file keeps the last good downtimes and says so.
	if err := os.WriteFile(path, []byte("<results><DOWNTIME"), 0o644); err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(want, "\ngridprobe_downtime_file_valid 1\n", "\ngridprobe_downtime_file_valid 0\n", 1)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// FuzzParse: the downtime parser never panics, and what it accepts has a
// site and ends after it starts.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`<results><DOWNTIME CLASSIFICATION="SCHEDULED"><SITENAME>S</SITENAME><SEVERITY>OUTAGE</SEVERITY><START_DATE>1</START_DATE><END_DATE>2</END_DATE></DOWNTIME></results>`))
	f.Add([]byte(`<results/>`))
	f.Add([]byte(`<x>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := Parse(data)
		if err != nil {
			return
		}
		for _, d := range list {
			if d.Site == "" || !d.End.After(d.Start) {
				t.Fatalf("accepted %+v", d)
			}
		}
	})
}
