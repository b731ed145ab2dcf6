package membership

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/zonecache/zonecache/replication"
)

// MaxWatchWait bounds how long a /topology request with wait= may block.
const MaxWatchWait = 60 * time.Second

// AdminHandler serves this member's fleet endpoints beside next (the
// server's /metrics, /healthz and /readyz): GET /topology (see ServeHTTP),
// GET /state, which answers the state this member advertises, GET /node,
// which answers its node id (so that a tool knows whose admin address it
// reached), and POST
// /state?to=STATE, which moves it there (promote, drain) and answers the
// new state, and POST /weight?weight=W&next=N, which sets the weights it
// advertises (a reshard's weight change). GET /readyz answers 503 with the reason while the member
// serves no reads (joining or warming, cut off from most of the fleet,
// held dead by it, or gone), else next's answer: serving and draining
// members are ready. Package admin is their client. It checks no
// access: zonecached serves it behind its admin token and origin checks.
func (m *Member) AdminHandler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.Handle("GET /topology", m)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if reason := m.unready(); reason != "" {
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /state", m.serveState)
	mux.HandleFunc("GET /node", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, m.Name()) })
	mux.HandleFunc("POST /state", m.serveSetState)
	mux.HandleFunc("POST /weight", m.serveSetWeight)
	m.handleKeyring(mux)
	return mux
}

// unready says why this member serves no reads, or "" when it serves
// them: joining or warming, cut off from most of the fleet, held dead by
// it, or out of it. A draining member serves reads (a reshard's new node
// at the switch, or its leaving node during the copy), so it is ready:
// ready means clients should send it traffic, as Kubernetes reads it.
func (m *Member) unready() string {
	switch s := m.State(); {
	case m.Left():
		return "left the fleet: serving no reads"
	case m.health.isolated():
		return "isolated: cut off from most of the fleet, serving no hits"
	case m.health.heldDead():
		return "held dead by the fleet: serving no hits"
	case s != replication.Serving && s != replication.Draining:
		return string(s) + ": serving no reads"
	}
	return ""
}

// serveState answers GET /state: the state this member advertises.
func (m *Member) serveState(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintln(w, m.State())
}

// serveSetState answers POST /state?to=STATE: it advertises STATE and
// answers the state now advertised.
func (m *Member) serveSetState(w http.ResponseWriter, r *http.Request) {
	to := replication.NodeState(r.URL.Query().Get("to"))
	if !to.Valid() {
		http.Error(w, "to: want joining, warming, serving or draining", http.StatusBadRequest)
		return
	}
	if err := m.SetState(r.Context(), to); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, m.State())
}

// serveSetWeight answers POST /weight?weight=W&next=N: it advertises
// weight W and next weight N (0 or absent: none), as a reshard moves a node
// to a new weight, and answers them.
func (m *Member) serveSetWeight(w http.ResponseWriter, r *http.Request) {
	weight, err := strconv.Atoi(r.URL.Query().Get("weight"))
	next, nerr := 0, error(nil)
	if s := r.URL.Query().Get("next"); s != "" {
		next, nerr = strconv.Atoi(s)
	}
	if err != nil || nerr != nil || weight <= 0 || next < 0 {
		http.Error(w, "want weight > 0 and next >= 0", http.StatusBadRequest)
		return
	}
	if err := m.SetWeight(r.Context(), weight, next); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "weight=%d next=%d\n", weight, next)
}

// ServeHTTP answers GET /topology with the fleet's topology as JSON
// (replication.Topology). With ?after=EPOCH&wait=DURATION it is a watch: it
// answers as soon as the topology's epoch is greater than EPOCH, or after
// DURATION (at most MaxWatchWait) with the current topology, whichever comes
// first; the client compares epochs to tell whether anything changed.
// A member that has left the fleet answers 503, so that watchers move on to
// another seed instead of following its frozen view.
func (m *Member) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if s := q.Get("after"); s != "" {
		after, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			http.Error(w, "after: want an epoch (unsigned integer)", http.StatusBadRequest)
			return
		}
		wait, err := time.ParseDuration(q.Get("wait"))
		if err != nil || wait < 0 {
			http.Error(w, "wait: want a duration such as 30s", http.StatusBadRequest)
			return
		}
		m.waitNewer(r, after, min(wait, MaxWatchWait))
	}
	if m.Left() {
		http.Error(w, "this member has left the fleet", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(m.Topology())
}

// waitNewer blocks until the epoch passes after, the wait ends or the
// request is cancelled.
func (m *Member) waitNewer(r *http.Request, after uint64, wait time.Duration) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		m.mu.Lock()
		epoch, changed, left := m.epoch, m.changed, m.left
		m.mu.Unlock()
		if epoch > after || left {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}
