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

// ChartBar is one day's bar of the usage chart: its successful requests, with its refused ones
// stacked on them.
type ChartBar struct {
	Day      time.Time
	Requests int64
	Refused  int64
	// X, Y and Height place the successful requests' bar; Y is its top, measured down from the
	// chart's top. RefusedY and RefusedHeight place the refused ones' on it.
	X, Y, Height            int
	RefusedY, RefusedHeight int
}

// Bars lays out one bar per day of Usage, its refused requests stacked on its successful ones:
// the day with the most of both is the chart's full height (Peak), the others in proportion,
// and every day with a request, and every part with one, at least one unit tall, so that it
// shows beside a busy one. A day without requests has no height.
func (p KeyPage) Bars() []ChartBar {
	peak := p.Peak()
	// units rounds up, so that no count rounds to nothing.
	units := func(n int64) int { return int((n*chartBarHeight + peak - 1) / peak) }
	bars := make([]ChartBar, len(p.Usage))
	for i, day := range p.Usage {
		total, height := 0, 0
		if day.Requests+day.Refused > 0 {
			total = units(day.Requests + day.Refused)
			height = min(units(day.Requests), total)
		}
		refused := total - height
		if day.Refused > 0 && refused == 0 {
			// The successful requests' rounding took the last unit: the refused ones get one.
			if height > 1 {
				height--
			} else {
				total++
			}
			refused = total - height
		}
		x := i * (chartBarWidth + chartBarGap)
		bars[i] = ChartBar{Day: day.Day, Requests: day.Requests, Refused: day.Refused, X: x, Y: chartBarHeight - height, Height: height,
			RefusedY: chartBarHeight - height - refused, RefusedHeight: refused}
	}
	return bars
}

// Peak is the most requests, successful and refused together, of a day of Usage: the top of
// the chart's scale.
func (p KeyPage) Peak() int64 {
	var peak int64
	for _, day := range p.Usage {
		peak = max(peak, day.Requests+day.Refused)
	}
	return peak
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

// TotalRefused is the number of refused requests over every day of Usage.
func (p KeyPage) TotalRefused() int64 {
	var total int64
	for _, day := range p.Usage {
		total += day.Refused
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

// DayLabel writes a day as the chart and its table name it, in the console's one date style:
// "10 Mar 2026".
func DayLabel(t time.Time) string {
	return Date(t)
}

// numbers writes counts as the console shows them, in English: 1,234.
var numbers = message.NewPrinter(language.English)

// countLabel writes a count as the console does: 1,234.
func countLabel(n int64) string {
	return numbers.Sprintf("%d", n)
}

// refusedLabel writes a number of refused requests: "3 refused".
func refusedLabel(n int64) string {
	return countLabel(n) + " refused"
}

// requestsLabel writes a number of requests: "1 request", "1,234 requests".
func requestsLabel(n int64) string {
	return numbers.Sprintf("%d %s", n, PluralWord(n, "request", "requests"))
}
