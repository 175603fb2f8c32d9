// Command worker is a tiny custom handler for funchost's process tests: it
// listens where the host tells it to, reports what it was started with, and
// can crash or refuse to start on demand.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	switch os.Getenv("WORKER_MODE") {
	case "exit":
		fmt.Fprintln(os.Stderr, "worker: required setting missing, giving up")
		os.Exit(2)
	case "deaf":
		fmt.Fprintln(os.Stderr, "worker: not listening, on purpose")
		time.Sleep(time.Hour)
	}
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	cwd, _ := os.Getwd()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /Hello", func(w http.ResponseWriter, r *http.Request) {
		body := map[string]any{
			"pid":          os.Getpid(),
			"appRoot":      os.Getenv("FUNCTIONS_APP_ROOT_PATH"),
			"workerId":     os.Getenv("FUNCTIONS_CUSTOMHANDLER_WORKER_ID"),
			"setting":      os.Getenv("VIGIL_TEST_SETTING"),
			"args":         os.Args[1:],
			"cwd":          cwd,
			"invocationId": r.Header.Get("X-Azure-Functions-InvocationId"),
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"Outputs": map[string]any{"res": map[string]any{
				"statusCode": 200,
				"body":       body,
				"headers":    map[string]string{"Content-Type": "application/json"},
			}},
			"Logs": []string{"hello from the worker"},
		})
	})
	mux.HandleFunc("POST /Crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "worker: crashing, on purpose")
		os.Exit(3)
	})

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() {
		<-stop
		fmt.Println("worker: SIGTERM, stopping")
		os.Exit(0)
	}()

	fmt.Printf("worker: pid %d listening on 127.0.0.1:%s\n", os.Getpid(), port)
	if err := http.ListenAndServe("127.0.0.1:"+port, mux); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
