package ce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// oneOrMany decodes a JSON value that A-REX writes as an object (or a bare
// string) when there is one child and as an array when there are several.
// null and an absent value decode to no elements.
type oneOrMany[T any] []T

// UnmarshalJSON implements json.Unmarshaler.
func (m *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*m = nil
		return nil
	}
	if b[0] == '[' {
		var many []T
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
		*m = many
		return nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*m = oneOrMany[T]{one}
	return nil
}

// flexString accepts a JSON string or number (A-REX writes counters as
// strings; other versions as numbers) and keeps its text.
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(strings.TrimSpace(s))
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %.20s", b)
	}
	*f = flexString(n.String())
	return nil
}

// jobItem is one element of a REST bulk answer ({"job": ...}).
type jobItem struct {
	StatusCode flexString `json:"status-code"`
	Reason     string     `json:"reason"`
	ID         string     `json:"id"`
	State      string     `json:"state"`
}

type jobList struct {
	Job oneOrMany[jobItem] `json:"job"`
}

// parseJobs decodes a bulk answer or a job listing. An empty body is an
// empty list (A-REX sends no JSON at all then).
func parseJobs(body []byte) ([]jobItem, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	var l jobList
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("job list is not A-REX JSON: %w", err)
	}
	return l.Job, nil
}

// sessionList is the answer to GET /jobs/<id>/session.
type sessionList struct {
	File oneOrMany[string] `json:"file"`
	Dir  oneOrMany[string] `json:"dir"`
}

func parseSession(body []byte) (sessionList, error) {
	var s sessionList
	if len(bytes.TrimSpace(body)) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, fmt.Errorf("session listing is not A-REX JSON: %w", err)
	}
	return s, nil
}

// GLUE2 as A-REX renders it in JSON (GET /rest/1.0/info): only what 3info
// looks at.
type glue2Doc struct {
	Domains struct {
		AdminDomain oneOrMany[glue2AdminDomain] `json:"AdminDomain"`
	} `json:"Domains"`
}

type glue2AdminDomain struct {
	Name     string `json:"Name"`
	Services struct {
		ComputingService oneOrMany[glue2Service] `json:"ComputingService"`
	} `json:"Services"`
}

type glue2Service struct {
	ID                string                   `json:"ID"`
	Name              string                   `json:"Name"`
	Type              string                   `json:"Type"`
	QualityLevel      string                   `json:"QualityLevel"`
	ComputingEndpoint oneOrMany[glue2Endpoint] `json:"ComputingEndpoint"`
	ComputingShare    oneOrMany[glue2Share]    `json:"ComputingShare"`
	ComputingManager  oneOrMany[glue2Manager]  `json:"ComputingManager"`
	Capability        oneOrMany[string]        `json:"Capability"`
	TotalJobs         flexString               `json:"TotalJobs"`
}

type glue2Endpoint struct {
	ID               string            `json:"ID"`
	URL              string            `json:"URL"`
	InterfaceName    string            `json:"InterfaceName"`
	InterfaceVersion flexString        `json:"InterfaceVersion"`
	HealthState      string            `json:"HealthState"`
	HealthStateInfo  string            `json:"HealthStateInfo"`
	ServingState     string            `json:"ServingState"`
	QualityLevel     string            `json:"QualityLevel"`
	Capability       oneOrMany[string] `json:"Capability"`
}

type glue2Share struct {
	Name         string     `json:"Name"`
	MappingQueue string     `json:"MappingQueue"`
	ServingState string     `json:"ServingState"`
	FreeSlots    flexString `json:"FreeSlots"`
	RunningJobs  flexString `json:"RunningJobs"`
	WaitingJobs  flexString `json:"WaitingJobs"`
}

type glue2Manager struct {
	ProductName    string     `json:"ProductName"`
	ProductVersion flexString `json:"ProductVersion"`
}

// RESTInterface is the GLUE2 InterfaceName of the A-REX REST endpoint.
const RESTInterface = "org.nordugrid.arcrest"

// infoReport is what 3info concluded from the GLUE2 document.
type infoReport struct {
	Service  string // ComputingService Name (or ID)
	Quality  string
	Endpoint *glue2Endpoint
	Queue    *glue2Share
	Queues   []string
	LRMS     string
	Problems []problem
}

type problem struct {
	critical bool
	text     string
}

// parseInfo decodes the GLUE2 JSON document.
func parseInfo(body []byte) (*glue2Doc, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("empty info document")
	}
	var d glue2Doc
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("info document is not GLUE2 JSON: %w", err)
	}
	return &d, nil
}

// analyzeInfo checks the document: a ComputingService exists, it advertises
// the REST interface (preferably at wsURL), the queue exists, and service,
// endpoint and queue are in production. queue empty: any queue will do.
func analyzeInfo(d *glue2Doc, wsURL, queue string) infoReport {
	var r infoReport
	var svc *glue2Service
	for i := range d.Domains.AdminDomain {
		ad := &d.Domains.AdminDomain[i]
		if len(ad.Services.ComputingService) > 0 {
			svc = &ad.Services.ComputingService[0]
			break
		}
	}
	if svc == nil {
		r.Problems = append(r.Problems, problem{true, "no ComputingService published"})
		return r
	}
	r.Service = svc.Name
	if r.Service == "" {
		r.Service = svc.ID
	}
	r.Quality = svc.QualityLevel
	for _, m := range svc.ComputingManager {
		r.LRMS = strings.TrimSpace(m.ProductName + " " + string(m.ProductVersion))
	}
	if !strings.EqualFold(svc.QualityLevel, "production") {
		r.Problems = append(r.Problems, problem{false, fmt.Sprintf("service QualityLevel is %q, not production", svc.QualityLevel)})
	}
	r.analyzeEndpoint(svc, strings.TrimSuffix(wsURL, "/"))
	r.analyzeQueue(svc, queue)
	return r
}

// analyzeEndpoint finds the REST endpoint (preferably at want) and checks
// its health and serving state.
func (r *infoReport) analyzeEndpoint(svc *glue2Service, want string) {
	var names []string
	for i := range svc.ComputingEndpoint {
		e := &svc.ComputingEndpoint[i]
		names = append(names, e.InterfaceName)
		if e.InterfaceName != RESTInterface {
			continue
		}
		if r.Endpoint == nil || strings.TrimSuffix(e.URL, "/") == want {
			r.Endpoint = e
		}
	}
	e := r.Endpoint
	if e == nil {
		r.Problems = append(r.Problems, problem{true, fmt.Sprintf("REST interface %s not advertised (interfaces: %s)", RESTInterface, strings.Join(uniq(names), ", "))})
		return
	}
	if want != "" && strings.TrimSuffix(e.URL, "/") != want {
		r.Problems = append(r.Problems, problem{false, fmt.Sprintf("REST endpoint published as %s, not %s", e.URL, want)})
	}
	switch strings.ToLower(e.HealthState) {
	case "ok":
	case "warning":
		r.Problems = append(r.Problems, problem{false, "REST endpoint HealthState warning " + e.HealthStateInfo})
	default:
		r.Problems = append(r.Problems, problem{true, fmt.Sprintf("REST endpoint HealthState %q %s", e.HealthState, e.HealthStateInfo)})
	}
	if !strings.EqualFold(e.ServingState, "production") {
		r.Problems = append(r.Problems, problem{false, fmt.Sprintf("REST endpoint ServingState %q, not production", e.ServingState)})
	}
}

// analyzeQueue finds the queue (any when queue is empty; a VO share of it
// will do) and checks its serving state.
func (r *infoReport) analyzeQueue(svc *glue2Service, queue string) {
	for i := range svc.ComputingShare {
		s := &svc.ComputingShare[i]
		q := s.MappingQueue
		if q == "" {
			q = s.Name
		}
		r.Queues = append(r.Queues, q)
		if r.Queue == nil && (queue == "" || s.Name == queue) {
			r.Queue = s
		}
	}
	if r.Queue == nil && queue != "" { // a VO share (e.g. grid_testvo) of the queue will do
		for i := range svc.ComputingShare {
			if svc.ComputingShare[i].MappingQueue == queue {
				r.Queue = &svc.ComputingShare[i]
				break
			}
		}
	}
	r.Queues = uniq(r.Queues)
	switch {
	case r.Queue == nil && queue != "":
		r.Problems = append(r.Problems, problem{true, fmt.Sprintf("queue %s not published (queues: %s)", queue, orNone(r.Queues))})
	case r.Queue == nil:
		r.Problems = append(r.Problems, problem{true, "no queue (ComputingShare) published"})
	case !strings.EqualFold(r.Queue.ServingState, "production"):
		r.Problems = append(r.Problems, problem{false, fmt.Sprintf("queue %s ServingState %q, not production", r.Queue.Name, r.Queue.ServingState)})
	}
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
