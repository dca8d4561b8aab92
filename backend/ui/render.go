package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"login", "error", "fleet", "rollouts", "resume", "operations", "operation", "database"}

type pages struct {
	byName map[string]*template.Template
}

func mustParsePages() *pages {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t := template.Must(template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFS,
			"templates/layout.html", "templates/"+name+".html"))
		p.byName[name] = t
	}
	return p
}

// page is what every template gets: the page's own data in Data.
type page struct {
	Title string
	// Nav names the section the page belongs to, for the menu.
	Nav    string
	Viewer *viewer
	// RefreshMS is how often the page's live region reloads; 0 for never.
	RefreshMS int64
	Static    map[string]string
	Data      any
	Now       time.Time
}

// render writes a page; a request for the live region (partialHeader)
// gets only the page's content.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	p := page{Nav: name, Viewer: viewerFrom(r.Context()), Static: h.static.urls, Data: data, Now: h.now()}
	if m, ok := data.(map[string]any); ok {
		p.Title, _ = m["Title"].(string)
	} else if t, ok := data.(interface{ PageTitle() string }); ok {
		p.Title = t.PageTitle()
	}
	if live, ok := data.(interface{ Live() bool }); ok && live.Live() {
		p.RefreshMS = h.refresh.Milliseconds()
	}
	tmpl := h.pages.byName[name]
	entry := "layout.html"
	if r.Header.Get(partialHeader) != "" {
		entry = "content"
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, entry, p); err != nil {
		h.logger.Error().Err(err).Str("page", name).Msg("Could not render dashboard page")
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Vary", partialHeader)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorPage struct {
	Status  int
	Message string
}

func (e errorPage) PageTitle() string { return http.StatusText(e.Status) }

func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, message string) {
	h.render(w, r, status, "error", errorPage{Status: status, Message: message})
}

// staticFiles serves the embedded CSS and JavaScript under names that
// carry a hash of their content, so browsers may cache them for good.
type staticFiles struct {
	// urls maps a file's name to its versioned URL.
	urls  map[string]string
	files map[string][]byte
}

func mustLoadStatic() *staticFiles {
	s := &staticFiles{urls: map[string]string{}, files: map[string][]byte{}}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		panic(fmt.Sprintf("read embedded static files: %v", err))
	}
	for _, e := range entries {
		body, err := fs.ReadFile(staticFS, "static/"+e.Name())
		if err != nil {
			panic(fmt.Sprintf("read embedded %s: %v", e.Name(), err))
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(e.Name())
		versioned := strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:6]) + ext
		s.urls[e.Name()] = "/ui/static/" + versioned
		s.files[versioned] = body
	}
	return s
}

func (s *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	body, ok := s.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(body)
}

var templateFuncs = template.FuncMap{
	"ago":      ago,
	"duration": humanDuration,
	"stamp":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"tone":     tone,
	"words":    func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"inc":      func(i int) int { return i + 1 },
	"conditionTone": func(kind, status string) string {
		if status != "True" && status != "False" {
			return "warn"
		}
		// Drifted is the one condition whose True is bad news.
		if (kind == "Drifted") == (status == "True") {
			return "bad"
		}
		return "ok"
	},
}

// ago says how long before now t was, as a person reads it.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return humanDuration(now.Sub(t)) + " ago"
}

// humanDuration rounds d to what matters: seconds under a minute, minutes
// and seconds under an hour, then hours and minutes.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// tone is the colour class of a state word; the word itself is always
// shown too.
func tone(state string) string {
	switch state {
	case "ready", "healthy", "done", "succeeded", "completed", "True", "consistent", "streaming", "repair":
		return "ok"
	case "failed", "rolled_back", "rolled back", "halted", "cancelled", "error", "inconsistent":
		return "bad"
	case "baking", "applying", "running", "in_progress":
		return "busy"
	case "waiting", "pending", "provisioning", "deleting", "finding", "False", "unknown":
		return "warn"
	}
	return "none"
}
