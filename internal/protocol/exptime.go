package protocol

import "time"

// MaxRelativeExptime is memcached's REALTIME_MAXDELTA, 30 days: an exptime
// up to it counts seconds from now, a larger one is an absolute Unix time.
const MaxRelativeExptime = 30 * 24 * 3600

// AbsoluteExpiry is the server's reading of a request's exptime: the Unix
// time the item expires, 0 meaning never. A negative exptime, like an
// absolute time in the past, gives a time that has already passed.
func AbsoluteExpiry(exptime int32, now int64) int64 {
	switch {
	case exptime == 0:
		return 0
	case exptime < 0:
		return 1
	case exptime > MaxRelativeExptime:
		return int64(exptime)
	}
	return now + int64(exptime)
}

// Exptime is the client's side of the rule: the exptime to send for an
// item that lives ttl from now. It is 0 (never expires) for ttl ≤ 0, whole
// seconds rounded up within 30 days, and beyond that the absolute Unix time.
func Exptime(ttl time.Duration, now time.Time) int32 {
	if ttl <= 0 {
		return 0
	}
	secs := (ttl + time.Second - 1) / time.Second
	if secs > MaxRelativeExptime {
		return int32(now.Add(ttl).Unix())
	}
	return int32(secs)
}
