package views

import (
	"strconv"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"keysmith/models"
)

// KeyPage is the page of one key: what it is, who has used it lately, how much, and what can
// be done with it.
type KeyPage struct {
	Key models.APIKey
	// Clients are some of those seen using the key in the last 30 days, as the delete warning
	// names them; MoreClients is how many more were seen.
	Clients     []ClientUse
	MoreClients int64
	// Usage is the key's requests on each of the last models.DailyUseDays days, oldest first.
	Usage []models.APIKeyDayCount
	// Rotate holds the expiry choices of the rotate form: the same as at creation, within the
	// lifetime policy.
	Rotate APIKeyForm
	// LastRevocation is the proof of the key's last revocation, if it had one: how many
	// instances applied it, and how fast.
	LastRevocation *Revocation
	// Creators holds the name of the user who created the key, by id (CreatedBy).
	Creators map[int64]string
	// Edit is the rename and description forms as last sent, with what was wrong with them;
	// the key's own name and description when none was sent.
	Edit KeyEdit
	Now  time.Time
}

// KeyEdit is the key page's rename and description forms: their values and their errors,
// under "name" and "description".
type KeyEdit struct {
	Name, Description string
	Errors            models.FieldErrors
}

// Disabled tells whether the key is disabled, so the page offers to enable it rather than to
// disable it.
func (p KeyPage) Disabled() bool {
	return p.Key.DisabledAt != nil
}

// Expired tells whether the key has expired, so the page offers to renew it rather than to
// rotate or disable it: its secret works no more, and a grace would keep nothing working.
func (p KeyPage) Expired() bool {
	return p.Key.Expired(p.Now)
}

// rotateLabel names the key page's rotate control: Renew for an expired key.
func rotateLabel(p KeyPage) string {
	if p.Expired() {
		return "Renew"
	}
	return "Rotate secret"
}

// The usage chart's geometry, in the SVG's own units: one bar per day, a gap between bars.
const (
	chartBarWidth  = 8
	chartBarGap    = 2
	chartBarHeight = 60 // the busiest day's
	// chartHeight leaves room under the bars for the axis line.
	chartHeight = chartBarHeight + 1
)

// ChartBar is one day's bar of the usage chart.
type ChartBar struct {
	Day      time.Time
	Requests int64
	// X, Y and Height place the bar; Y is its top, measured down from the chart's top.
	X, Y, Height int
}

// Bars lays out one bar per day of Usage: the busiest day's bar is the chart's full height,
// the others in proportion, and every day with a request at least one unit tall, so that it
// shows beside a busy one. A day without requests has no height.
func (p KeyPage) Bars() []ChartBar {
	busiest := p.Busiest().Requests
	bars := make([]ChartBar, len(p.Usage))
	for i, day := range p.Usage {
		height := 0
		if day.Requests > 0 {
			// Rounded up, so that no day with requests rounds to nothing.
			height = int((day.Requests*chartBarHeight + busiest - 1) / busiest)
		}
		bars[i] = ChartBar{Day: day.Day, Requests: day.Requests, X: i * (chartBarWidth + chartBarGap), Y: chartBarHeight - height, Height: height}
	}
	return bars
}

// Busiest is the day of Usage with the most requests, the latest of those tied; the zero count
// when Usage is empty.
func (p KeyPage) Busiest() models.APIKeyDayCount {
	var busiest models.APIKeyDayCount
	for _, day := range p.Usage {
		if day.Requests >= busiest.Requests {
			busiest = day
		}
	}
	return busiest
}

// TotalRequests is the number of requests over every day of Usage.
func (p KeyPage) TotalRequests() int64 {
	var total int64
	for _, day := range p.Usage {
		total += day.Requests
	}
	return total
}

// chartWidth is the usage chart's width for days bars: the bars and the gaps between them.
func chartWidth(days int) int {
	return max(days*(chartBarWidth+chartBarGap)-chartBarGap, 0)
}

// chartViewBox is the usage chart's viewBox.
func chartViewBox(days int) string {
	return "0 0 " + strconv.Itoa(chartWidth(days)) + " " + strconv.Itoa(chartHeight)
}

// DayLabel writes a day as the chart and its table name it: "Tue 10 Mar".
func DayLabel(t time.Time) string {
	return t.UTC().Format("Mon 2 Jan")
}

// numbers writes counts as the console shows them, in English: 1,234.
var numbers = message.NewPrinter(language.English)

// requestsLabel writes a number of requests: "1 request", "1,234 requests".
func requestsLabel(n int64) string {
	return numbers.Sprintf("%d %s", n, pluralWord(n, "request", "requests"))
}
