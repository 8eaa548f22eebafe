package fakenet

import "net/http"

// Hang waits until the client gives up on r or stop is closed (the fake
// shuts down), then aborts the handler by panicking with
// http.ErrAbortHandler, so whoever still listens sees no answer, not an
// empty 200. It does not return.
func Hang(r *http.Request, stop <-chan struct{}) {
	select {
	case <-r.Context().Done():
	case <-stop:
	}
	panic(http.ErrAbortHandler)
}

// Drop closes the connection under w without an answer. Where the
// connection cannot be taken over, it aborts the handler instead
// (panicking with http.ErrAbortHandler), which also sends no answer.
func Drop(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}
