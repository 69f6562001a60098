package dashboards

import (
	"fmt"

	"github.com/gridprobe/gridprobe/internal/publish"
)

// PublishStalledMinutes: results waiting in the spool and no message
// acknowledged by the broker for this long raise an alert.
const PublishStalledMinutes = 60

func publishGroups() []RuleGroup {
	return []RuleGroup{{Name: "gridprobe.publish", Rules: []Rule{{
		Alert: "GridprobePublishStalled",
		Expr: fmt.Sprintf(`(time() - %s > %d) and %s > 0`,
			publish.MetricLastSuccess, PublishStalledMinutes*60, publish.MetricSpoolMsgs),
		For:    "15m",
		Labels: map[string]string{"severity": "warning"},
		Annotations: map[string]string{
			"summary": "gridprobe on {{ $labels.instance }} cannot deliver results to the broker",
			"description": "{{ $value | humanizeDuration }} since the broker last acknowledged a message while results wait in the spool; " +
				"see gridprobe_publish_errors_total and the probe's log (refused login, TLS, unreachable broker). Nothing is lost until the spool is full.",
		},
	}}}}
}
