package runner

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// Plot geometry, in SVG user units.
const (
	plotWidth   = 720
	plotHeight  = 220
	plotLeft    = 56
	plotRight   = 24
	plotTop     = 12
	plotBottom  = 28
	plotBuckets = 40
	plotTicks   = 5
	// legendHeight is the room below a plot for its legend.
	legendHeight = 18
)

// palette colours the scenarios' lines, in Scenarios order.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"}

const (
	colourPassed = "#2ca02c"
	colourFailed = "#d62728"
)

// chart is one SVG plot, computed in Go so that the page needs no script.
type chart struct {
	Title  string
	Width  int
	Height int
	// Frame is the plot area's rectangle.
	FrameX, FrameY, FrameW, FrameH float64
	XTicks                         []tick
	YTicks                         []tick
	Lines                          []line
	Dots                           []dot
}

type tick struct {
	Pos   float64
	Label string
}

type line struct {
	Name   string
	Colour string
	Points string
}

type dot struct {
	X, Y   float64
	Colour string
	Title  string
}

// axes maps times and values onto a chart's plot area.
type axes struct {
	t0, t1 time.Time
	y1     float64
}

func (a axes) x(t time.Time) float64 {
	span := a.t1.Sub(a.t0).Seconds()
	if span <= 0 {
		return plotLeft + (plotWidth-plotLeft-plotRight)/2
	}
	return plotLeft + t.Sub(a.t0).Seconds()/span*(plotWidth-plotLeft-plotRight)
}

func (a axes) y(v float64) float64 {
	return plotTop + (1-v/a.y1)*(plotHeight-plotTop-plotBottom)
}

func newChart(title string, a axes, yLabel func(float64) string) chart {
	c := chart{Title: title, Width: plotWidth, Height: plotHeight + legendHeight,
		FrameX: plotLeft, FrameY: plotTop, FrameW: plotWidth - plotLeft - plotRight, FrameH: plotHeight - plotTop - plotBottom}
	span := a.t1.Sub(a.t0)
	for i := range plotTicks + 1 {
		t := a.t0.Add(span * time.Duration(i) / plotTicks)
		c.XTicks = append(c.XTicks, tick{Pos: a.x(t), Label: t.UTC().Format("15:04")})
		v := a.y1 * float64(i) / plotTicks
		c.YTicks = append(c.YTicks, tick{Pos: a.y(v), Label: yLabel(v)})
	}
	return c
}

// successChart plots each scenario's success ratio over time, in buckets.
func successChart(e EnvReport) chart {
	a := axes{t0: e.First, t1: e.Last, y1: 1}
	c := newChart("Success ratio over time, per scenario", a, func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) })
	span := e.Last.Sub(e.First)
	bucketOf := func(t time.Time) int {
		if span <= 0 {
			return 0
		}
		return min(int(t.Sub(e.First)*plotBuckets/span), plotBuckets-1)
	}
	for i, s := range Scenarios() {
		var passed, total [plotBuckets]int
		for _, r := range e.results {
			if r.Scenario != s.Name {
				continue
			}
			b := bucketOf(r.Start)
			total[b]++
			if r.Outcome == OutcomePassed {
				passed[b]++
			}
		}
		var points []string
		for b := range plotBuckets {
			if total[b] == 0 {
				continue
			}
			mid := e.First.Add(span * time.Duration(2*b+1) / (2 * plotBuckets))
			points = append(points, fmt.Sprintf("%.1f,%.1f", a.x(mid), a.y(float64(passed[b])/float64(total[b]))))
		}
		if len(points) > 0 {
			c.Lines = append(c.Lines, line{Name: s.Name, Colour: palette[i%len(palette)], Points: strings.Join(points, " ")})
		}
	}
	return c
}

// durationChart plots one scenario's durations over time, green when
// passed and red when failed.
func durationChart(e EnvReport, scenario string) chart {
	longest := 0.0
	for _, r := range e.results {
		if r.Scenario == scenario {
			longest = math.Max(longest, r.Duration.Seconds())
		}
	}
	a := axes{t0: e.First, t1: e.Last, y1: niceCeiling(longest)}
	c := newChart("Duration of "+scenario+" (seconds)", a, func(v float64) string { return fmt.Sprintf("%.0fs", v) })
	for _, r := range e.results {
		if r.Scenario != scenario {
			continue
		}
		colour := colourPassed
		if r.Outcome == OutcomeFailed {
			colour = colourFailed
		}
		c.Dots = append(c.Dots, dot{X: a.x(r.Start), Y: a.y(r.Duration.Seconds()), Colour: colour,
			Title: fmt.Sprintf("%s %s %s %.1fs %s", r.Start.UTC().Format(time.RFC3339), r.Region, r.Outcome, r.Duration.Seconds(), r.Error)})
	}
	return c
}

// niceCeiling rounds v up to 1, 2 or 5 times a power of ten, at least 1.
func niceCeiling(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// htmlEnv is one environment's part of the HTML page.
type htmlEnv struct {
	EnvReport
	Success   chart
	Durations []chart
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":  func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"secs": seconds,
	"when": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join": strings.Join,
	"addf": func(a, b float64) float64 { return a + b },
	"mulf": func(i, step int) float64 { return float64(i * step) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dbfleet acceptance runner report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child, .text { text-align: left; }
.failed { color: #d62728; }
.error { font-family: monospace; font-size: 0.85em; white-space: pre-wrap; text-align: left; max-width: 70em; }
svg { display: block; margin: 0.5em 0 1.5em; }
svg text { font-size: 11px; fill: #444; }
</style>
</head>
<body>
<h1>dbfleet acceptance runner report</h1>
<p>Generated {{when .Generated}}.</p>
{{range .Envs}}
<h2>Environment {{.Env}}</h2>
<p>{{.Runs}} scenario runs in {{.Iterations}} iterations from {{when .First}} to {{when .Last}}; {{.Passed}} passed ({{pct .SuccessRatio}}).</p>
<table>
<tr><th>scenario</th><th class="text">via</th><th class="text">region</th><th>runs</th><th>passed</th><th>success</th><th>p50</th><th>p95</th><th>max</th></tr>
{{range .Stats}}<tr><td>{{.Scenario}}</td><td class="text">{{.Via}}</td><td class="text">{{.Region}}</td><td>{{.Runs}}</td><td>{{.Passed}}</td><td{{if lt .Passed .Runs}} class="failed"{{end}}>{{pct .SuccessRatio}}</td><td>{{secs .P50}}</td><td>{{secs .P95}}</td><td>{{secs .Max}}</td></tr>
{{end}}</table>
{{template "chart" .Success}}
{{range .Durations}}{{template "chart" .}}{{end}}
<h3>Latest failures</h3>
{{if .Failures}}<table>
<tr><th>started</th><th>scenario</th><th>region</th><th>step</th><th>error region</th><th>error, operations, requests</th></tr>
{{range .Failures}}<tr><td>{{when .Start}}</td><td class="text">{{.Scenario}}</td><td class="text">{{.Region}}</td><td class="text">{{.Step}}</td><td class="text">{{.ErrorRegion}}</td><td class="error">{{.Error}}
operations: {{join .OperationIDs " "}}
requests: {{join .RequestIDs " "}}</td></tr>
{{end}}</table>{{else}}<p>No failures.</p>{{end}}
{{else}}<p>No scenario runs recorded.</p>{{end}}
</body>
</html>
{{define "chart"}}<svg width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Title}}">
<title>{{.Title}}</title>
<rect x="{{.FrameX}}" y="{{.FrameY}}" width="{{.FrameW}}" height="{{.FrameH}}" fill="#fafafa" stroke="#999"/>
{{range .YTicks}}<line x1="{{$.FrameX}}" x2="{{printf "%.1f" (addf $.FrameX $.FrameW)}}" y1="{{printf "%.1f" .Pos}}" y2="{{printf "%.1f" .Pos}}" stroke="#e5e5e5"/><text x="{{printf "%.1f" (addf $.FrameX -4)}}" y="{{printf "%.1f" (addf .Pos 4)}}" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<text x="{{printf "%.1f" .Pos}}" y="{{printf "%.1f" (addf (addf $.FrameY $.FrameH) 16)}}" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .Lines}}<polyline fill="none" stroke="{{.Colour}}" stroke-width="2" points="{{.Points}}"><title>{{.Name}}</title></polyline>
{{end}}{{range .Dots}}<circle cx="{{printf "%.1f" .X}}" cy="{{printf "%.1f" .Y}}" r="3" fill="{{.Colour}}"><title>{{.Title}}</title></circle>
{{end}}<text x="{{printf "%.1f" .FrameX}}" y="10">{{.Title}}</text>
{{range $i, $l := .Lines}}<text x="{{printf "%.1f" (addf $.FrameX (mulf $i 110))}}" y="{{$.Height}}" dy="-4" fill="{{$l.Colour}}" style="fill: {{$l.Colour}}">{{$l.Name}}</text>
{{end}}</svg>{{end}}`))

// WriteHTML writes the report as one self-contained HTML page with inline
// SVG plots of success and durations over time.
func (r *Report) WriteHTML(w io.Writer) error {
	var envs []htmlEnv
	for _, e := range r.Envs {
		he := htmlEnv{EnvReport: e, Success: successChart(e)}
		for _, s := range Scenarios() {
			for _, st := range e.Stats {
				if st.Scenario == s.Name {
					he.Durations = append(he.Durations, durationChart(e, s.Name))
					break
				}
			}
		}
		envs = append(envs, he)
	}
	return reportPage.Execute(w, struct {
		Generated time.Time
		Envs      []htmlEnv
	}{r.Generated, envs})
}
