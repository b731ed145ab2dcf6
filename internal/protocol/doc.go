// Package protocol is memcached's text and meta protocols, both directions,
// written once for the server and the clients: a request the client encodes
// is a request the server parses the same way (FuzzMetaRequestRoundTrip).
//
// Shared: key rules (ValidateKey, MaxKeyLength), line limits, the store and
// arith modes (Mode*) and the 30-day exptime rule (Exptime for the sender,
// AbsoluteExpiry for the receiver).
//
// Client side: Append* functions write mg/ms/md/ma/mn and text requests
// into a caller's []byte without allocating; ReadReply, ReadHeader and
// ReadValue parse replies into a reused Reply. nodeclient drives them.
//
// Server side: TrimLine, Tokenize and NextToken split request lines,
// ParseArg* read their numbers and MetaFlags.Parse their meta flags, all
// with memcached 1.6's rules and quirks, so that zonecached answers like
// memcached. Replies are written by the server itself.
package protocol
