package deploy

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

const root = "../.."

func TestPackageLayoutIsWhatTheHostExpects(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the linux/amd64 binary")
	}
	out := filepath.Join(t.TempDir(), "vigil.zip")
	pkg, err := BuildPackage(context.Background(), PackageOptions{Root: root, Output: out, Version: "test-1"})
	require.NoError(t, err)
	require.Equal(t, "vigil", pkg.Binary)

	zr, err := zip.OpenReader(out)
	require.NoError(t, err)
	defer zr.Close()
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		require.NotContains(t, files, f.Name, "each entry once")
		require.Equal(t, zipEpoch, f.Modified.UTC(), "%s: a fixed, valid date", f.Name)
		files[f.Name] = f
	}

	// Exactly: host.json, the catalog and the binary at the root, and one
	// folder per function of the repository holding its function.json.
	want := []string{"host.json", "vigil.yaml", "vigil"}
	dirs, err := os.ReadDir(filepath.Join(root, "functions"))
	require.NoError(t, err)
	for _, d := range dirs {
		if d.IsDir() {
			want = append(want, d.Name()+"/function.json")
		}
	}
	got := make([]string, 0, len(files))
	for name := range files {
		got = append(got, name)
	}
	sort.Strings(want)
	sort.Strings(got)
	require.Equal(t, want, got)
	require.Len(t, pkg.Functions, len(want)-3)

	// Copied byte for byte.
	for name, src := range map[string]string{"host.json": "host.json", "vigil.yaml": "vigil.yaml"} {
		require.Equal(t, readFile(t, filepath.Join(root, src)), readEntry(t, files[name]), name)
	}
	for _, fn := range pkg.Functions {
		require.Equal(t, readFile(t, filepath.Join(root, "functions", fn, "function.json")),
			readEntry(t, files[fn+"/function.json"]), fn)
	}

	// The binary: executable, a static linux/amd64 ELF (no interpreter: the
	// Flex Consumption image need not have a C library).
	bin := files["vigil"]
	require.Equal(t, os.FileMode(0o755), bin.Mode().Perm(), "the host runs it directly")
	require.True(t, bin.Mode().IsRegular())
	body := readEntry(t, bin)
	ef, err := elf.NewFile(bytes.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, elf.EM_X86_64, ef.Machine)
	require.Equal(t, elf.ELFCLASS64, ef.Class)
	for _, p := range ef.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "statically linked")
	}
	require.Contains(t, string(body), "test-1", "the version is stamped")
}

func TestPackageRefusesABadCatalogBeforeBuilding(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, filepath.Join(root, "host.json"), filepath.Join(dir, "host.json"))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "functions", "Health"), 0o755))
	copyFile(t, filepath.Join(root, "functions", "Health", "function.json"), filepath.Join(dir, "functions", "Health", "function.json"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte("components:\n  - id: api\n    team: nobody\n"), 0o644))

	out := filepath.Join(dir, "out.zip")
	_, err := BuildPackage(context.Background(), PackageOptions{Root: dir, Output: out})
	require.ErrorContains(t, err, "vigil.yaml")
	require.NoFileExists(t, out)
}

func TestPackageRefusesAnExecutableOutsideTheRoot(t *testing.T) {
	for _, exe := range []string{"", "bin/vigil", "../vigil", "vigil.yaml"} {
		_, err := handlerExecutable([]byte(`{"customHandler":{"description":{"defaultExecutablePath":"` + exe + `"}}}`))
		require.Error(t, err, exe)
		require.ErrorContains(t, err, "defaultExecutablePath")
	}
	exe, err := handlerExecutable(readFile(t, filepath.Join(root, "host.json")))
	require.NoError(t, err)
	require.Equal(t, "vigil", exe)
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

func readEntry(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	require.NoError(t, os.WriteFile(to, readFile(t, from), 0o644))
}
