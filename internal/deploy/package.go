// Package deploy builds Vigil's deployment package and puts Vigil in Azure:
// Terraform (through terraform-exec) for the infrastructure, then the package
// published to the function app.
package deploy

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"vigil/internal/catalog"
)

// ConfigName is the catalog's name inside the package; the app reads it from
// there (VIGIL_CONFIG, relative to the app root).
const ConfigName = "vigil.yaml"

// PackageOptions says what to package and where.
type PackageOptions struct {
	// Root is the project root: host.json, functions/ and cmd/vigil.
	Root string
	// Config is the catalog to ship, relative to Root unless absolute.
	Config string
	// Output is the zip to write.
	Output string
	// Version is stamped into the binary (`vigil version`).
	Version string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// zipEpoch is every entry's modification time: the earliest a zip can say.
var zipEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Package is what a built package holds.
type Package struct {
	Path      string
	Binary    string   // the executable's name at the root, from host.json
	Functions []string // one folder per function, sorted
	Size      int64
}

// BuildPackage builds the linux/amd64 binary and writes the zip the Functions
// host expects at the app root: host.json, one folder per function holding its
// function.json, the executable host.json names, and the catalog. The catalog is
// checked first: a package never ships a catalog `vigil check` refuses.
func BuildPackage(ctx context.Context, o PackageOptions) (Package, error) {
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	if o.Output == "" {
		return Package{}, errors.New("package: no output path")
	}
	hostJSON, err := os.ReadFile(filepath.Join(o.Root, "host.json"))
	if err != nil {
		return Package{}, fmt.Errorf("package: %w", err)
	}
	binary, err := handlerExecutable(hostJSON)
	if err != nil {
		return Package{}, err
	}
	functions, err := readFunctions(filepath.Join(o.Root, "functions"))
	if err != nil {
		return Package{}, err
	}
	cfgPath := o.Config
	if cfgPath == "" {
		cfgPath = ConfigName
	}
	if !filepath.IsAbs(cfgPath) {
		cfgPath = filepath.Join(o.Root, cfgPath)
	}
	if _, err := catalog.Load(cfgPath); err != nil {
		return Package{}, fmt.Errorf("package: catalog %s:\n%w", cfgPath, err)
	}
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return Package{}, fmt.Errorf("package: %w", err)
	}

	fmt.Fprintf(logw, "building %s for linux/amd64\n", binary)
	tmp, err := os.MkdirTemp("", "vigil-package-")
	if err != nil {
		return Package{}, err
	}
	defer os.RemoveAll(tmp)
	binPath := filepath.Join(tmp, binary)
	version := o.Version
	if version == "" {
		version = "dev"
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+version,
		"-o", binPath, "./cmd/vigil")
	build.Dir = o.Root
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return Package{}, fmt.Errorf("package: go build: %w\n%s", err, out)
	}

	names := make([]string, 0, len(functions))
	for name := range functions {
		names = append(names, name)
	}
	sort.Strings(names)

	fmt.Fprintf(logw, "writing %s: host.json, %s, %s and %d functions\n", o.Output, ConfigName, binary, len(names))
	if err := os.MkdirAll(filepath.Dir(o.Output), 0o755); err != nil {
		return Package{}, err
	}
	part := o.Output + ".part"
	f, err := os.Create(part)
	if err != nil {
		return Package{}, err
	}
	defer os.Remove(part)
	zw := zip.NewWriter(f)
	add := func(name string, mode os.FileMode, r io.Reader) error {
		// A fixed, valid DOS date (a zero one reads as month 0, which some
		// extractors refuse): the same sources make the same zip.
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipEpoch}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, r)
		return err
	}
	err = add("host.json", 0o644, bytes.NewReader(hostJSON))
	if err == nil {
		err = add(ConfigName, 0o644, bytes.NewReader(cfg))
	}
	for _, name := range names {
		if err == nil {
			err = add(path.Join(name, "function.json"), 0o644, bytes.NewReader(functions[name]))
		}
	}
	if err == nil {
		var bin *os.File
		if bin, err = os.Open(binPath); err == nil {
			err = add(binary, 0o755, bin)
			bin.Close()
		}
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Package{}, fmt.Errorf("package: writing %s: %w", o.Output, err)
	}
	if err := os.Rename(part, o.Output); err != nil {
		return Package{}, err
	}
	st, err := os.Stat(o.Output)
	if err != nil {
		return Package{}, err
	}
	return Package{Path: o.Output, Binary: binary, Functions: names, Size: st.Size()}, nil
}

// handlerExecutable returns the executable host.json starts, which must be a
// plain file name at the app root (the package puts the binary there).
func handlerExecutable(hostJSON []byte) (string, error) {
	var h struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(hostJSON, &h); err != nil {
		return "", fmt.Errorf("package: host.json: %w", err)
	}
	exe := h.CustomHandler.Description.DefaultExecutablePath
	switch {
	case exe == "":
		return "", errors.New("package: host.json: customHandler.description.defaultExecutablePath is not set")
	case exe != path.Base(exe) || strings.ContainsAny(exe, `/\`) || exe == "." || exe == "..":
		return "", fmt.Errorf("package: host.json: customHandler.description.defaultExecutablePath %q must be a file name at the app root", exe)
	case exe == ConfigName || exe == "host.json":
		return "", fmt.Errorf("package: host.json: customHandler.description.defaultExecutablePath %q collides with a packaged file", exe)
	}
	return exe, nil
}

// readFunctions returns each function folder's function.json, checked to be
// a JSON object with bindings.
func readFunctions(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}
	out := make(map[string][]byte)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name(), "function.json")
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("package: %w", err)
		}
		var fn struct {
			Bindings []json.RawMessage `json:"bindings"`
		}
		if err := json.Unmarshal(b, &fn); err != nil {
			return nil, fmt.Errorf("package: %s: %w", p, err)
		}
		if len(fn.Bindings) == 0 {
			return nil, fmt.Errorf("package: %s: no bindings", p)
		}
		out[e.Name()] = b
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("package: no functions under %s", dir)
	}
	return out, nil
}
