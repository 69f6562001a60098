// Package downtime reads the downtimes sites declared, in the XML that
// GOCDB's programmatic interface exports (get_downtime: <results> of
// <DOWNTIME CLASSIFICATION="SCHEDULED|UNSCHEDULED"> with HOSTNAME,
// SERVICE_TYPE, HOSTED_BY (or SITENAME for a whole site), SEVERITY
// (OUTAGE|WARNING), START_DATE and END_DATE in Unix seconds), and tells for
// a service whether a scheduled outage covers it at a given time. `probe
// serve -downtimes FILE` exports that per service as
// gridprobe_service_scheduled_downtime, which the reliability recording rules
// (dashboards/) exclude from the known time, as WLCG does.
//
// Only SCHEDULED downtimes of severity OUTAGE count: an "at risk" (WARNING)
// downtime keeps the service in production, and an unscheduled outage is
// the site's failure like any other. A downtime matches a service when its
// site is the service's site and, when given, its host is the service's
// host and its service type is one GOCDB uses for the service's protocol.
package downtime

import (
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Downtime is one declared downtime.
type Downtime struct {
	ID             string
	Classification string // SCHEDULED or UNSCHEDULED
	Severity       string // OUTAGE or WARNING
	Site           string // HOSTED_BY, or SITENAME for a site downtime
	Host           string // empty: the whole site
	ServiceType    string // empty: every service of the host
	Start, End     time.Time
}

// ServiceTypes are the GOCDB service types of gridprobe's protocols
// (compared without regard to case).
var ServiceTypes = map[string][]string{
	"webdav":      {"webdav"},
	"xrootd":      {"XRootD"},
	"arc-ce":      {"ARC-CE"},
	"htcondor-ce": {"org.opensciencegrid.htcondorce", "HTCondor-CE"},
}

// Excluded reports whether d is a scheduled outage, the kind reliability
// leaves out of the known time.
func (d Downtime) Excluded() bool {
	return strings.EqualFold(d.Classification, "SCHEDULED") && strings.EqualFold(d.Severity, "OUTAGE")
}

// Covers reports whether d is a scheduled outage of the service (site,
// host, protocol) at t (start inclusive, end exclusive).
func (d Downtime) Covers(site, host, protocol string, t time.Time) bool {
	if !d.Excluded() || t.Before(d.Start) || !t.Before(d.End) || d.Site != site {
		return false
	}
	if d.Host != "" && !strings.EqualFold(d.Host, host) {
		return false
	}
	if d.ServiceType == "" {
		return true
	}
	for _, st := range ServiceTypes[protocol] {
		if strings.EqualFold(st, d.ServiceType) {
			return true
		}
	}
	return false
}

type xmlResults struct {
	XMLName   xml.Name      `xml:"results"`
	Downtimes []xmlDowntime `xml:"DOWNTIME"`
}

type xmlDowntime struct {
	ID             string `xml:"ID,attr"`
	PrimaryKey     string `xml:"PRIMARY_KEY,attr"`
	Classification string `xml:"CLASSIFICATION,attr"`
	Hostname       string `xml:"HOSTNAME"`
	ServiceType    string `xml:"SERVICE_TYPE"`
	HostedBy       string `xml:"HOSTED_BY"`
	SiteName       string `xml:"SITENAME"`
	Severity       string `xml:"SEVERITY"`
	StartDate      string `xml:"START_DATE"`
	EndDate        string `xml:"END_DATE"`
	FormStart      string `xml:"FORMATED_START_DATE"`
	FormEnd        string `xml:"FORMATED_END_DATE"`
}

// maxDowntimes bounds a file (GOCDB's whole export is a few thousand).
const maxDowntimes = 100_000

// Parse reads a get_downtime export. Every problem is reported with the
// element's path (results/DOWNTIME[3] (ID 32578)/START_DATE: ...), all at
// once; nothing is silently skipped.
func Parse(data []byte) ([]Downtime, error) {
	var r xmlResults
	if err := xml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("downtime XML: %w", err)
	}
	if len(r.Downtimes) > maxDowntimes {
		return nil, fmt.Errorf("downtime XML: %d downtimes, more than %d", len(r.Downtimes), maxDowntimes)
	}
	var out []Downtime
	var errs []error
	for i, x := range r.Downtimes {
		at := fmt.Sprintf("results/DOWNTIME[%d]", i+1)
		if x.ID != "" {
			at += " (ID " + trim(x.ID, 40) + ")"
		}
		d, problems := convert(x)
		for _, p := range problems {
			errs = append(errs, fmt.Errorf("%s/%s", at, p))
		}
		if len(problems) == 0 {
			out = append(out, d)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func convert(x xmlDowntime) (Downtime, []string) {
	d := Downtime{ID: x.ID, Classification: strings.TrimSpace(x.Classification), Severity: strings.TrimSpace(x.Severity),
		Host: strings.TrimSpace(x.Hostname), ServiceType: strings.TrimSpace(x.ServiceType), Site: strings.TrimSpace(x.HostedBy)}
	if d.ID == "" {
		d.ID = x.PrimaryKey
	}
	var problems []string
	if d.Site == "" {
		d.Site = strings.TrimSpace(x.SiteName)
	}
	if d.Site == "" {
		problems = append(problems, "HOSTED_BY: missing (neither HOSTED_BY nor SITENAME names the site)")
	}
	switch strings.ToUpper(d.Classification) {
	case "SCHEDULED", "UNSCHEDULED":
	default:
		problems = append(problems, fmt.Sprintf("@CLASSIFICATION: %q is not SCHEDULED or UNSCHEDULED", trim(d.Classification, 40)))
	}
	switch strings.ToUpper(d.Severity) {
	case "OUTAGE", "WARNING":
	default:
		problems = append(problems, fmt.Sprintf("SEVERITY: %q is not OUTAGE or WARNING", trim(d.Severity, 40)))
	}
	var err error
	if d.Start, err = when(x.StartDate, x.FormStart); err != nil {
		problems = append(problems, "START_DATE: "+err.Error())
	}
	if d.End, err = when(x.EndDate, x.FormEnd); err != nil {
		problems = append(problems, "END_DATE: "+err.Error())
	}
	if len(problems) == 0 && !d.End.After(d.Start) {
		problems = append(problems, fmt.Sprintf("END_DATE: %s is not after START_DATE %s", d.End.Format(time.RFC3339), d.Start.Format(time.RFC3339)))
	}
	return d, problems
}

// when reads a Unix time, or else GOCDB's formatted UTC date.
func when(unix, formatted string) (time.Time, error) {
	unix, formatted = strings.TrimSpace(unix), strings.TrimSpace(formatted)
	switch {
	case unix != "":
		v, err := strconv.ParseInt(unix, 10, 64)
		if err != nil || v < 0 || v > 1<<40 {
			return time.Time{}, fmt.Errorf("%q is not a Unix time", trim(unix, 40))
		}
		return time.Unix(v, 0).UTC(), nil
	case formatted != "":
		t, err := time.Parse("2006-01-02 15:04", formatted)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a date like 2026-12-07 10:00", trim(formatted, 40))
		}
		return t, nil
	}
	return time.Time{}, errors.New("missing")
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Load reads and parses a file.
func Load(path string) ([]Downtime, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("downtimes: %w", err)
	}
	d, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}
