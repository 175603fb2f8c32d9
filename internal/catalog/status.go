package catalog

import (
	"regexp"
	"slices"
	"strings"

	"vigil/internal/incident"
)

// StatusPublishing says where customer-facing status updates go. The status
// page lives with another organisation, so that it stays up when Vigil's
// vendor is down.
type StatusPublishing struct {
	// Statuspage is an Atlassian Statuspage page.
	Statuspage *StatuspageConfig `yaml:"statuspage"`
	// Webhooks are other status pages, reached through a webhook signed
	// like paging webhooks (Standard Webhooks), each with its own key in the
	// setting named after its URL setting + "_SIGNING_KEY".
	Webhooks []StatusWebhook `yaml:"webhooks"`
	// Templates per phase help the author start; Vigil never publishes them
	// by itself.
	Templates map[incident.Phase]string `yaml:"templates"`
}

// StatuspageConfig is one Atlassian Statuspage page.
type StatuspageConfig struct {
	PageID string `yaml:"pageId"`
	// APIKeySetting names the app setting holding the API key (in Azure, a
	// Key Vault reference).
	APIKeySetting string `yaml:"apiKeySetting"`
	// Components maps catalog component ids to Statuspage component ids.
	Components map[string]string `yaml:"components"`
}

// StatusWebhook is a status page reached through a signed webhook.
type StatusWebhook struct {
	ID string `yaml:"id"`
	// URLSetting names the app setting holding the URL (a Key Vault reference in Azure).
	URLSetting string `yaml:"urlSetting"`
}

var settingName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

func (v *validator) checkStatus(c *Catalog, components map[string]bool) {
	s := c.StatusPublishing
	root := []any{"statusPublishing"}
	if sp := s.Statuspage; sp != nil {
		p := append(root, "statuspage")
		if strings.TrimSpace(sp.PageID) == "" {
			v.add(append(p, "pageId"), "is required: the page id from the Statuspage API settings")
		}
		if !settingName.MatchString(sp.APIKeySetting) {
			v.add(append(p, "apiKeySetting"), "must name the app setting that holds the API key (letters, digits, underscores)")
		}
		for id, remote := range sp.Components {
			if !components[id] {
				v.add(append(p, "components", id), "component %q is not in components", id)
			}
			if strings.TrimSpace(remote) == "" {
				v.add(append(p, "components", id), "needs the Statuspage component id")
			}
		}
	}
	seen := map[string]bool{"statuspage": true}
	for i, w := range s.Webhooks {
		p := append(root, "webhooks", i)
		v.id(append(p, "id"), w.ID, seen, "status publisher")
		if !settingName.MatchString(w.URLSetting) {
			v.add(append(p, "urlSetting"), "must name the app setting that holds the URL (letters, digits, underscores)")
		}
	}
	for phase, text := range s.Templates {
		if !slices.Contains(incident.Phases, phase) {
			v.add(append(root, "templates", string(phase)), "%q is not a phase (investigating, identified, monitoring or resolved)", phase)
		}
		if len(text) > incident.MaxStatusMessage {
			v.add(append(root, "templates", string(phase)), "is longer than %d characters", incident.MaxStatusMessage)
		}
	}
}

// Publishers lists the configured status publishers' ids.
func (c *Catalog) Publishers() []string {
	var out []string
	if c.StatusPublishing.Statuspage != nil {
		out = append(out, "statuspage")
	}
	for _, w := range c.StatusPublishing.Webhooks {
		out = append(out, w.ID)
	}
	return out
}
