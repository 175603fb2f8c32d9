package handlers

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"

	"vigil/internal/incident"
)

// OutboxLister lists what the local outbox recorded.
type OutboxLister interface {
	Outbox(ctx context.Context, limit int) ([]*incident.Notification, error)
}

// DevPages serves the pages a developer uses under `vigil local`: /dev/outbox shows
// every page and notification that would have left the system.
func DevPages(outbox OutboxLister) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/outbox", func(w http.ResponseWriter, r *http.Request) {
		ns, err := outbox.Outbox(r.Context(), 500)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if ns == nil {
			ns = []*incident.Notification{}
		}
		if r.URL.Query().Get("format") == "json" || r.Header.Get("Accept") == "application/json" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"notifications": ns})
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = outboxPage.Execute(w, ns)
	})
	return mux
}

var outboxPage = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vigil outbox</title>
<meta http-equiv="refresh" content="5">
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#1b1b1b}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f4f4f4}.sev1,.sev2{color:#b00020;font-weight:600}small{color:#666}
</style></head><body>
<h1>Outbox</h1>
<p>Every page and notification that would have left the system, newest first ({{len .}}). Refreshes every 5 s. <a href="?format=json">JSON</a></p>
<table><thead><tr><th>When (UTC)</th><th>To</th><th>Channel</th><th>Severity</th><th>Subject</th><th>Text</th></tr></thead><tbody>
{{range .}}<tr><td>{{.CreatedAt.Format "2006-01-02 15:04:05"}}</td><td>{{.To}}<br><small>{{.Address}}</small></td><td>{{.Channel}}</td>
<td class="{{.Severity}}">{{.Severity}}{{if .Urgency}}<br><small>{{.Urgency}} urgency</small>{{end}}</td>
<td>{{.Subject}}</td><td>{{.Text}}{{if .Link}}<br><small><a href="{{.Link}}">{{.Link}}</a></small>{{end}}{{if .AckURL}}<br><a href="{{.AckURL}}">Acknowledge</a>{{end}}</td></tr>
{{else}}<tr><td colspan="6">Nothing sent yet.</td></tr>{{end}}
</tbody></table></body></html>
`))
