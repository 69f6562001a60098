package metrics

// Site and feed metrics (probe serve with sites_from:).
//
// gridprobe_site_info carries a site's groups as labels: one series per
// site, value 1, joined in PromQL (… * on(site) group_left(tier)
// gridprobe_site_info). The groups are never labels of the per-check
// series, so they add one series per site, whatever the number of checks,
// and a site that changes group replaces one series, not thirty.
const (
	SiteInfo           = "gridprobe_site_info"
	FeedAge            = "gridprobe_feed_age_seconds"
	FeedMaxAge         = "gridprobe_feed_max_age_seconds"
	FeedRefreshSuccess = "gridprobe_feed_last_refresh_successful"
	FeedSites          = "gridprobe_feed_sites"
)

// SiteInfoLabels are the labels of gridprobe_site_info.
var SiteInfoLabels = []string{"site", "vo", "tier", "country", "federation"}
