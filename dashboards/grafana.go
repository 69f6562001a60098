// Package dashboards generates gridprobe's Grafana dashboards and its
// Prometheus alerting and recording rules from Go, so that every query is
// built from the metric names the probe exports (internal/metrics) and
// tests can parse, lint and run each one. `go run ./dashboards/gen` writes
// the committed files under dashboards/grafana and dashboards/prometheus.
//
// The Grafana JSON model is written from the small structs below by hand:
// the Grafana Foundation SDK is not available from the module proxy here,
// and the few panel kinds used need only a handful of fields.
package dashboards

// Dashboard is a Grafana dashboard (schema version 39, Grafana 10/11).
type Dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description,omitempty"`
	Tags          []string    `json:"tags"`
	Timezone      string      `json:"timezone"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	Refresh       string      `json:"refresh"`
	SchemaVersion int         `json:"schemaVersion"`
	Version       int         `json:"version"`
	Time          TimeRange   `json:"time"`
	Templating    Templating  `json:"templating"`
	Annotations   Annotations `json:"annotations"`
	Links         []Link      `json:"links"`
	Panels        []Panel     `json:"panels"`
}

// TimeRange is the default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Templating holds the dashboard variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Annotations is left empty but present (Grafana adds its default otherwise).
type Annotations struct {
	List []any `json:"list"`
}

// Link is a dashboard link.
type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
}

// Variable is a template variable (datasource or query).
type Variable struct {
	Name       string      `json:"name"`
	Label      string      `json:"label"`
	Type       string      `json:"type"` // datasource | query
	Query      any         `json:"query"`
	Datasource *Datasource `json:"datasource,omitempty"`
	Definition string      `json:"definition,omitempty"`
	Refresh    int         `json:"refresh"`
	Multi      bool        `json:"multi"`
	IncludeAll bool        `json:"includeAll"`
	AllValue   string      `json:"allValue,omitempty"`
	Sort       int         `json:"sort"`
	Current    Current     `json:"current"`
	Hide       int         `json:"hide"`
	Regex      string      `json:"regex"`
	Options    []any       `json:"options"`
}

// Current is a variable's initial selection.
type Current struct {
	Selected bool `json:"selected"`
	Text     any  `json:"text"`
	Value    any  `json:"value"`
}

// Datasource references the datasource variable.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is one dashboard panel.
type Panel struct {
	ID              int              `json:"id"`
	Type            string           `json:"type"`
	Title           string           `json:"title"`
	Description     string           `json:"description,omitempty"`
	GridPos         GridPos          `json:"gridPos"`
	Datasource      *Datasource      `json:"datasource,omitempty"`
	Targets         []Target         `json:"targets,omitempty"`
	FieldConfig     FieldConfig      `json:"fieldConfig"`
	Options         map[string]any   `json:"options"`
	Transformations []Transformation `json:"transformations,omitempty"`
	Interval        string           `json:"interval,omitempty"` // minimum query step, e.g. 1d
	Collapsed       *bool            `json:"collapsed,omitempty"`
	Panels          []Panel          `json:"panels,omitempty"`
}

// GridPos places a panel (24 columns wide).
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is one Prometheus query.
type Target struct {
	RefID        string      `json:"refId"`
	Datasource   *Datasource `json:"datasource"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat,omitempty"`
	Instant      bool        `json:"instant"`
	Range        bool        `json:"range"`
	Format       string      `json:"format,omitempty"` // time_series | table
}

// FieldConfig holds a panel's field defaults and overrides.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []any         `json:"overrides"`
}

// FieldDefaults are the default field options.
type FieldDefaults struct {
	Unit       string         `json:"unit,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Min        *float64       `json:"min,omitempty"`
	Max        *float64       `json:"max,omitempty"`
	Color      map[string]any `json:"color,omitempty"`
	Mappings   []any          `json:"mappings"`
	Thresholds *Thresholds    `json:"thresholds,omitempty"`
	Custom     map[string]any `json:"custom,omitempty"`
}

// Thresholds colour values by steps.
type Thresholds struct {
	Mode  string `json:"mode"`
	Steps []Step `json:"steps"`
}

// Step is one threshold step; Value nil is the base.
type Step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// Transformation is a Grafana data transformation.
type Transformation struct {
	ID      string         `json:"id"`
	Options map[string]any `json:"options"`
}
