// Package e2e holds end-to-end tests of the whole system: real zonecached
// processes gossiping as a fleet (internal/fleet), clients that discover
// it from seeds (package discovery) and read and write through the smart
// client (package client) while nodes join, die, drain and warm up. It has
// no code of its own.
package e2e
