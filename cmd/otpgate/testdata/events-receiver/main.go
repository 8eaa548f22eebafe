// Command events-receiver takes otpgate's events and prints each one.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/otpgate/otpgate/events"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	flag.Parse()
	secret := os.Getenv("OTPGATE_EVENTS_SECRET") // "whsec_…", the value otpgate has
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil || events.Verify(secret, r.Header, body, events.DefaultTolerance) != nil {
			http.Error(w, "invalid signature", http.StatusBadRequest)
			return
		}
		log.Printf("%s %s", r.Header.Get("webhook-id"), body) // handle each webhook-id once
		w.WriteHeader(http.StatusNoContent)                   // any 2xx: delivered
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
