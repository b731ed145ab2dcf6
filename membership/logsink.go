package membership

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// logSink is memberlist's log output: each line becomes a slog record at
// its level (see parseLogLine); a dead message about this member that
// memberlist refuted (the fleet dropped it) invalidates the cache, as
// writes made meanwhile went elsewhere, unless only a minority declared it
// (see Member.refuted); a probe that got no ack counts in
// zonecache_membership_probe_failures_total.
func (m *Member) logSink() *log.Logger {
	return log.New(memberlistLog{m}, "", 0)
}

type memberlistLog struct{ m *Member }

func (w memberlistLog) Write(p []byte) (int, error) {
	level, msg := parseLogLine(string(p))
	switch {
	case strings.Contains(msg, "Refuting a dead message"):
		w.m.refuted(msg)
	case strings.Contains(msg, "no acks received"):
		w.m.metrics.probeFailures.Inc()
	case strings.Contains(msg, "use of closed network connection") && w.m.Left():
		// memberlist closes its sockets before it stops its gossip
		// timers: a send in between is part of a clean shutdown.
		level = slog.LevelDebug
	}
	w.m.log.Log(context.Background(), level, msg, "source", "memberlist")
	return len(p), nil
}

// parseLogLine splits a memberlist log line, "[LEVEL] memberlist: msg",
// into a slog level (ERR error, WARN warn, INFO info, others debug) and
// the message without its prefix.
func parseLogLine(line string) (slog.Level, string) {
	line = strings.TrimSpace(line)
	rest, ok := strings.CutPrefix(line, "[")
	if !ok {
		return slog.LevelDebug, line
	}
	tag, msg, ok := strings.Cut(rest, "] ")
	if !ok {
		return slog.LevelDebug, line
	}
	msg = strings.TrimPrefix(msg, "memberlist: ")
	switch tag {
	case "ERR", "ERROR":
		return slog.LevelError, msg
	case "WARN":
		return slog.LevelWarn, msg
	case "INFO":
		return slog.LevelInfo, msg
	}
	return slog.LevelDebug, msg
}
