package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
)

// SkipAppRegistration, as Options.AppRegistration, leaves Entra ID alone.
const SkipAppRegistration = "skip"

// placeholderAppID stands in for the client id of a registration a plan-only
// run would create.
const placeholderAppID = "00000000-0000-0000-0000-000000000000"

// responderLogin is the app registration of one run: the one vigil deploy
// manages (found by its unique name, created if missing), or the one the
// operator's responder_login.client_id names.
type responderLogin struct {
	graph      AppRegistrations
	uniqueName string // managed; "" for the operator's
	appID      string
	varFile    string // passes the managed registration's client id to Terraform
	out        io.Writer
}

// prepareLogin ensures the registration before Terraform plans: everything
// but the redirect URIs, which need the app's host.
func prepareLogin(ctx context.Context, o Options, dir string, varFiles []string, graph AppRegistrations, tmp string) (*responderLogin, error) {
	if o.AppRegistration == SkipAppRegistration {
		return nil, nil
	}
	vars, err := readTFVars(dir, varFiles, "name", "responder_login")
	if err != nil {
		return nil, err
	}
	rl, err := vars.Object("responder_login")
	if err != nil {
		return nil, err
	}
	graph.Log = o.Out
	l := &responderLogin{graph: graph, out: o.Out}
	if id, _ := rl["client_id"].(string); id != "" {
		fmt.Fprintf(o.Out, "==> app registration %s (responder_login.client_id)\n", id)
		reg, err := graph.EnsureByAppID(ctx, id, nil)
		if err != nil {
			return nil, err
		}
		l.appID = id
		upToDate(o.Out, reg)
		return l, nil
	}

	ok, err := declaresVariable(dir, "responder_login")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("deploy: %s declares no variable responder_login, which vigil deploy passes the app registration's client id through: "+
			"declare it and hand it to Vigil's module (as infra/examples do), or pass --app-registration=skip and give the module a client_id yourself", dir)
	}
	name := vars.String("name")
	if name == "" {
		name = "vigil"
	}
	l.uniqueName = o.AppRegistration
	if l.uniqueName == "" {
		l.uniqueName = "vigil-" + name + "-responders"
	}
	fmt.Fprintf(o.Out, "==> app registration %s\n", l.uniqueName)
	reg, err := graph.EnsureByUniqueName(ctx, l.uniqueName, nil)
	if err != nil {
		return nil, err
	}
	l.appID = reg.AppID
	if !reg.Exists {
		l.appID = placeholderAppID
		fmt.Fprintf(o.Out, "    the plan shows client id %s in its place\n", placeholderAppID)
	}
	upToDate(o.Out, reg)

	// The operator's tenant_id and allowed_applications stay; a var file
	// given last replaces the whole object, so it carries them too.
	if rl == nil {
		rl = map[string]any{}
	}
	rl["client_id"] = l.appID
	b, err := json.Marshal(map[string]any{"responder_login": rl})
	if err != nil {
		return nil, err
	}
	l.varFile = filepath.Join(tmp, "vigil-app-registration.tfvars.json")
	if err := os.WriteFile(l.varFile, b, 0o600); err != nil {
		return nil, err
	}
	return l, nil
}

func upToDate(out io.Writer, reg Registration) {
	if reg.Exists && !reg.Changed {
		fmt.Fprintln(out, "    app registration up to date")
	}
}

// finish points the registration's redirect URIs at the app once Terraform
// has said its hosts: the public URL, and the function app's own host name.
func (l *responderLogin) finish(ctx context.Context, publicURL, defaultHost string) error {
	var hosts []string
	if u, err := url.Parse(publicURL); err == nil && u.Host != "" {
		hosts = append(hosts, u.Host)
	}
	if defaultHost != "" && !slices.Contains(hosts, defaultHost) {
		hosts = append(hosts, defaultHost)
	}
	redirects := make([]string, len(hosts))
	for i, h := range hosts {
		redirects[i] = RedirectURI(h)
	}
	var log bytes.Buffer
	g := l.graph
	g.Log = &log
	var err error
	if l.uniqueName != "" {
		_, err = g.EnsureByUniqueName(ctx, l.uniqueName, redirects)
	} else {
		_, err = g.EnsureByAppID(ctx, l.appID, redirects)
	}
	if log.Len() > 0 {
		fmt.Fprintf(l.out, "==> app registration %s: sign-in callback\n", l.appID)
		l.out.Write(log.Bytes())
	}
	return err
}
